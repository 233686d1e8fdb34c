"""Renderer against analytic shapes: sphere, ellipsoid, textured quad, yaw markers; encodings."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from pifuhd.data.asset import (
    CUBE_HALF_CM,
    IMAGE_HALF_EXTENT,
    MeshAsset,
    pixel_centers,
    sample_texture,
    view_rotation,
)
from pifuhd.data.lighting import UNIFORM_DC, irradiance_shading, light_preset
from pifuhd.data.render import (
    SubjectRenderer,
    depth_to_uint16,
    normal_to_rgb8,
    render_view,
    rgb8_to_normal,
    uint16_to_depth,
)

SIZE = 128
RADIUS_CM = 60.0
MASK_AREA_REL_TOL = 0.01  # inscribed icosphere (subdivisions 4) + pixel discretisation
DEPTH_TOL = 3e-3  # cube units (0.3 cm): facet sagitta / cos(slope) within 0.9 r
NORMAL_DEG_INNER = 0.75  # smooth-normal interpolation error within 0.9 r
NORMAL_DEG_ALL = 2.0  # everywhere on the mask, silhouette included
EXACT_TOL = 1e-5  # float32 maps
SHADING_TOL = 2e-3  # vertex-interpolated vs exact shading (colour units)


def uniform_light() -> np.ndarray:
    light = np.zeros((9, 3))
    light[0] = UNIFORM_DC
    return light


def sphere_asset(subdivisions: int = 4, scale=(1.0, 1.0, 1.0), colors=None) -> MeshAsset:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=RADIUS_CM)
    vertices = np.asarray(sphere.vertices) * np.asarray(scale)
    return MeshAsset(vertices, np.asarray(sphere.faces, dtype=np.int64), vertex_colors=colors)


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, S) cube x and y of every pixel centre (row 0 = top)."""
    c = pixel_centers(size)
    return np.broadcast_to(c[None, :], (size, size)), np.broadcast_to(-c[:, None], (size, size))


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


@pytest.fixture(scope="module")
def sphere_renderer() -> SubjectRenderer:
    return SubjectRenderer(sphere_asset())


def test_sphere_mask_depth_normals(sphere_renderer):
    maps = sphere_renderer.render(30.0, SIZE, uniform_light())
    x, y = pixel_grid(SIZE)
    r = RADIUS_CM / CUBE_HALF_CM
    pixel = 2 * IMAGE_HALF_EXTENT / SIZE
    rr = x**2 + y**2
    assert maps.mask.sum() == pytest.approx(np.pi * (r / pixel) ** 2, rel=MASK_AREA_REL_TOL)
    assert maps.mask[rr < (r - pixel) ** 2].all()
    assert not maps.mask[rr > (r + 0.5 * pixel) ** 2].any()

    m = maps.mask
    z = np.sqrt(np.clip(r**2 - rr, 0.0, None))
    truth = np.stack([x, y, z], axis=-1) / r
    inner = m & (rr < (0.9 * r) ** 2)
    np.testing.assert_allclose(maps.depth_front[inner], z[inner], atol=DEPTH_TOL)
    np.testing.assert_allclose(maps.depth_back[inner], -z[inner], atol=DEPTH_TOL)
    assert angle_deg(maps.normal_front[inner], truth[inner]).max() < NORMAL_DEG_INNER
    assert angle_deg(maps.normal_front[m], truth[m]).max() < NORMAL_DEG_ALL
    mirrored = truth * np.array([1.0, 1.0, -1.0])
    assert angle_deg(maps.normal_back[inner], mirrored[inner]).max() < NORMAL_DEG_INNER
    assert angle_deg(maps.normal_back[m], mirrored[m]).max() < NORMAL_DEG_ALL
    np.testing.assert_allclose(np.linalg.norm(maps.normal_front[m], axis=-1), 1.0, atol=EXACT_TOL)

    assert np.isnan(maps.depth_front[~m]).all() and np.isnan(maps.depth_back[~m]).all()
    for image in (maps.rgb, maps.albedo, maps.normal_front, maps.normal_back):
        assert image.dtype == np.float32 and not image[~m].any()
    # Unoccluded convex sphere, uniform unit light: shading 1, colour = albedo (0.7 grey).
    np.testing.assert_allclose(maps.rgb[m], 0.7, atol=EXACT_TOL)


def test_sphere_shading_follows_view_frame_light(sphere_renderer):
    """The light is given in the view frame: compare with exact shading at the view normal."""
    light = light_preset("intermediate")
    maps = sphere_renderer.render(40.0, 64, light)
    m = maps.mask
    expected = 0.7 * irradiance_shading(light, maps.normal_front[m].astype(np.float64)) ** (1 / 2.2)
    np.testing.assert_allclose(maps.rgb[m], np.clip(expected, 0, 1), atol=SHADING_TOL)
    assert maps.rgb[m].std() > 0.05  # visibly directional


def test_ellipsoid_front_and_back_match_analytic():
    axes = np.array([40.0, 70.0, 25.0]) / RADIUS_CM
    yaw = 30.0
    maps = SubjectRenderer(sphere_asset(scale=axes)).render(yaw, SIZE, uniform_light())
    rotation = view_rotation(yaw)
    semi = axes * RADIUS_CM / CUBE_HALF_CM
    q = rotation @ np.diag(1.0 / semi**2) @ rotation.T  # view-frame quadric p^T Q p = 1
    x, y = pixel_grid(SIZE)
    a = q[2, 2]
    b = 2 * (q[0, 2] * x + q[1, 2] * y)
    c = q[0, 0] * x**2 + 2 * q[0, 1] * x * y + q[1, 1] * y**2 - 1.0
    disc = b**2 - 4 * a * c
    # Well inside the silhouette: the discriminant is at least 19 % of its maximum (centre).
    inner = maps.mask & (disc > 0.19 * 4 * a)
    assert inner.sum() > 0.5 * maps.mask.sum()
    root = np.sqrt(np.clip(disc, 0.0, None))
    z_front, z_back = (-b + root) / (2 * a), (-b - root) / (2 * a)
    np.testing.assert_allclose(maps.depth_front[inner], z_front[inner], atol=DEPTH_TOL)
    np.testing.assert_allclose(maps.depth_back[inner], z_back[inner], atol=DEPTH_TOL)
    for z, normal in ((z_front, maps.normal_front), (z_back, maps.normal_back)):
        points = np.stack([x, y, z], axis=-1)
        truth = points @ q
        truth /= np.linalg.norm(truth, axis=-1, keepdims=True)
        assert angle_deg(normal[inner], truth[inner]).max() < NORMAL_DEG_INNER
    assert (maps.normal_front[maps.mask][:, 2] > 0).all()
    assert (maps.normal_back[maps.mask][:, 2] < 0).all()

    # Turning the camera by 180 degrees swaps front and back (mirrored in x).
    behind = SubjectRenderer(sphere_asset(scale=axes)).render(yaw + 180.0, SIZE, uniform_light())
    both = maps.mask & behind.mask[:, ::-1]
    assert both.sum() > 0.99 * maps.mask.sum()
    np.testing.assert_allclose(behind.depth_front[:, ::-1][both], -maps.depth_back[both], atol=1e-4)
    flip = np.array([-1.0, 1.0, -1.0])
    np.testing.assert_allclose(
        behind.normal_front[:, ::-1][both], maps.normal_back[both] * flip, atol=1e-3
    )


def quad_asset(half_cm: float, texture: np.ndarray) -> MeshAsset:
    """Two triangles at z = 0 facing +z (the camera at yaw 0), uv spanning [0, 1]^2."""
    h = half_cm
    vertices = np.array([[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    return MeshAsset(vertices, faces, uv=uv, texture=texture)


def test_textured_quad_filling_the_image_reproduces_the_texture():
    rng = np.random.default_rng(0)
    size = 64
    texture = rng.random((size, size, 3)).astype(np.float32)
    asset = quad_asset(IMAGE_HALF_EXTENT * CUBE_HALF_CM, texture)
    maps = render_view(asset, 0.0, size, uniform_light())
    assert maps.mask.all()
    np.testing.assert_allclose(maps.albedo, texture, atol=EXACT_TOL)
    np.testing.assert_allclose(maps.rgb, texture, atol=EXACT_TOL)  # flat & unoccluded: shading 1
    np.testing.assert_allclose(maps.depth_front, 0.0, atol=EXACT_TOL)
    np.testing.assert_allclose(maps.normal_front, np.broadcast_to([0, 0, 1.0], (size, size, 3)))
    # A single sheet: the last hit is the sheet itself.
    np.testing.assert_allclose(maps.normal_back, maps.normal_front)


def test_textured_quad_is_resampled_unwarped():
    """A smaller quad with a checker-and-gradient texture: albedo = texture at (x, y) -> uv."""
    rows, cols = np.indices((16, 16))
    texture = np.stack([cols / 15, rows / 15, (rows + cols) % 2], axis=-1).astype(np.float32)
    half = 50.0
    size = 96
    maps = render_view(quad_asset(half, texture), 0.0, size, uniform_light())
    x, y = pixel_grid(size)
    x_cm, y_cm = x * CUBE_HALF_CM, y * CUBE_HALF_CM
    inside = (np.abs(x_cm) < half - 1e-6) & (np.abs(y_cm) < half - 1e-6)
    np.testing.assert_array_equal(maps.mask, inside)
    uv = np.stack([(x_cm + half) / (2 * half), (y_cm + half) / (2 * half)], axis=-1)[inside]
    np.testing.assert_allclose(maps.albedo[inside], sample_texture(texture, uv), atol=EXACT_TOL)
    # Upright: the top rows show the texture's top (v = 1, row 0 has green = 0).
    top = maps.albedo[maps.mask.any(axis=1)][0]
    assert top[maps.mask.any(axis=0), 1].max() < 0.1


def test_yaw_brings_the_left_side_marker_into_view():
    """A red cap on the subject's +x side, a green cap toward front-left (x = z)."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS_CM)
    d = sphere.vertices / RADIUS_CM
    colors = np.full((len(d), 3), 0.5, dtype=np.float32)
    colors[d[:, 0] > 0.9] = [1, 0, 0]
    colors[d @ np.array([1, 0, 1]) / np.sqrt(2) > 0.9] = [0, 1, 0]
    renderer = SubjectRenderer(sphere_asset(colors=colors))
    size = 64

    def marker_columns(yaw: float, color: list[float]) -> np.ndarray:
        albedo = renderer.render(yaw, size, uniform_light()).albedo
        return np.nonzero(np.all(np.abs(albedo - color) < 1e-3, axis=-1))[1]

    red = marker_columns(90.0, [1, 0, 0])
    assert len(red) > 50 and abs(red.mean() - (size - 1) / 2) < 1.0  # facing the camera
    assert len(marker_columns(-90.0, [1, 0, 0])) == 0  # behind the subject
    assert len(marker_columns(0.0, [1, 0, 0])) < len(red) / 3  # at the right silhouette
    assert (marker_columns(0.0, [1, 0, 0]) > size / 2).all()
    assert (marker_columns(90.0, [0, 1, 0]) < size / 2).all()  # front-left -> image left
    assert (marker_columns(0.0, [0, 1, 0]) > size / 2).all()  # seen from the front: right
    assert len(marker_columns(0.0, [0, 1, 0])) > 20


def test_rendering_is_deterministic():
    asset = sphere_asset(subdivisions=2)
    a = SubjectRenderer(asset, seed=3).render(10.0, 32, light_preset("wild"))
    b = SubjectRenderer(asset, seed=3).render(10.0, 32, light_preset("wild"))
    for name in ("rgb", "normal_front", "normal_back", "depth_front", "depth_back"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_normal_encoding_round_trip():
    rng = np.random.default_rng(0)
    normals = rng.standard_normal((32, 32, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[:4] = 0.0  # background
    code = normal_to_rgb8(normals)
    assert code.dtype == np.uint8 and not code[:4].any() and code[4:].any(axis=-1).all()
    decoded = rgb8_to_normal(code)
    assert not decoded[:4].any()
    assert np.abs(decoded - normals).max() <= 0.5 / 127.5 + 1e-6
    np.testing.assert_array_equal(normal_to_rgb8(decoded), code)
    unit = rgb8_to_normal(code, renormalize=True)
    assert not unit[:4].any()
    np.testing.assert_allclose(np.linalg.norm(unit[4:], axis=-1), 1.0, atol=EXACT_TOL)
    # Per-component error <= 0.5 / 127.5, so the angle error is < 0.4 degrees.
    assert angle_deg(unit[4:], normals[4:]).max() < 0.4


def test_depth_encoding_round_trip(sphere_renderer):
    depth = sphere_renderer.render(0.0, 48, uniform_light()).depth_front
    code = depth_to_uint16(depth)
    assert code.dtype == np.uint16
    np.testing.assert_array_equal(code == 0, np.isnan(depth))
    decoded = uint16_to_depth(code)
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(depth))
    valid = ~np.isnan(depth)
    assert np.abs(decoded[valid] - depth[valid]).max() <= 2.0**-15 + 1e-7
    np.testing.assert_array_equal(depth_to_uint16(decoded), code)
    np.testing.assert_allclose(
        uint16_to_depth(depth_to_uint16(np.array([-1.5, 0.0, 1.5]))), [-1.5, 0, 1.5]
    )
    with pytest.raises(ValueError, match="uint16 range"):
        depth_to_uint16(np.array([2.5]))


def test_render_lights_equals_separate_renders(sphere_renderer):
    lights = [light_preset("wild"), light_preset("clear"), uniform_light()]
    together = sphere_renderer.render_lights(30.0, 48, lights)
    for light, maps in zip(lights, together, strict=True):
        alone = sphere_renderer.render(30.0, 48, light)
        for name in ("rgb", "albedo", "mask", "normal_front", "normal_back", "depth_front"):
            np.testing.assert_array_equal(getattr(maps, name), getattr(alone, name))
    assert np.abs(together[0].rgb - together[1].rgb).max() > 0.1
