"""Colours from the photo where it is seen, the colour net where it is not, a band between
(``pifuhd.surface_colors``), on spheres and pictures whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy import sparse

from pifuhd.eval.color_metrics import srgb_to_lab
from pifuhd.geometry.normal_refine import visible_from
from pifuhd.surface_colors import (
    CLEAR_SHARES,
    EDGE_SHARE,
    HARSH_SHARES,
    HIDDEN_BLUR,
    HIDDEN_CONTRAST,
    PhotoEvidence,
    blend_colors,
    blend_shares,
    net_relit,
    person_image,
    photo_weight,
    sample_image,
    smooth_over,
    surface_colors,
)

SIZE = 128
RED, BLUE, GREEN = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)


def quadrants() -> np.ndarray:
    """(S, S, 3): top half green; bottom-left red, bottom-right blue."""
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    image[: SIZE // 2] = GREEN
    image[SIZE // 2 :, : SIZE // 2] = RED
    image[SIZE // 2 :, SIZE // 2 :] = BLUE
    return image


def sphere(radius: float = 0.6) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=radius)


def constant_net(color: tuple[float, float, float]):
    return lambda vertices: np.tile(np.asarray(color, np.float32), (len(vertices), 1))


def test_projection_reads_the_pixel_under_each_point() -> None:
    points = np.array([[-0.5, 0.5, 0.0], [-0.5, -0.5, 0.3], [0.5, -0.5, -0.9]])
    np.testing.assert_allclose(sample_image(quadrants(), points), [GREEN, RED, BLUE])
    # the crop's first and last pixel centres are the cube's -1 and 1
    ramp = np.tile(np.linspace(0, 1, SIZE, dtype=np.float32)[None, :, None], (SIZE, 1, 3))
    edges = sample_image(ramp, np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(edges[:, 0], [0.0, 1.0, 0.5], atol=1e-6)


def test_photo_mode_copies_the_front_onto_the_back() -> None:
    mesh = sphere()
    colors = surface_colors(mesh, PhotoEvidence(quadrants()), "photo")
    v = mesh.vertices
    seen = visible_from(mesh, 1.0)
    for side in (seen, ~seen):  # the back gets the colour of the front in front of it
        lower_left = side & (v[:, 0] < -0.15) & (v[:, 1] < -0.15)
        lower_right = side & (v[:, 0] > 0.15) & (v[:, 1] < -0.15)
        top = side & (v[:, 1] > 0.15)
        for where, color in ((lower_left, RED), (lower_right, BLUE), (top, GREEN)):
            assert where.sum() > 20
            np.testing.assert_allclose(colors[where], np.tile(color, (where.sum(), 1)), atol=1e-6)


def test_blend_is_the_photo_in_front_the_net_behind_and_has_no_edge() -> None:
    mesh = sphere()
    red = np.tile(np.asarray(RED, np.float32), (SIZE, SIZE, 1))
    colors = surface_colors(mesh, PhotoEvidence(red, constant_net(BLUE)), "blend")
    z = mesh.vertex_normals[:, 2]
    # an evenly lit photo: the soft-light shares, the photo's own colours
    seen_share, hidden_share = CLEAR_SHARES
    front = np.multiply(seen_share, BLUE) + np.multiply(1 - seen_share, RED)
    np.testing.assert_allclose(colors[z > 0.7], np.tile(front, ((z > 0.7).sum(), 1)), atol=1e-3)
    hidden = np.tile(
        np.multiply(hidden_share, BLUE) + np.multiply(1 - hidden_share, RED), ((z < 0).sum(), 1)
    )
    np.testing.assert_allclose(colors[z < 0.0], hidden, atol=1e-6)
    weight = photo_weight(mesh, visible_from(mesh, 1.0))
    edges = mesh.edges_unique
    jumps = np.abs(weight[edges[:, 0]] - weight[edges[:, 1]])
    assert jumps.max() < 0.35  # a band several edges wide, no seam
    assert ((weight > 0.05) & (weight < 0.95)).sum() > 100


def test_blend_shares_reach_the_photo_and_the_net() -> None:
    """Shares 0: the photo where it is seen, the photo averaged over the surface where it is
    not (``smooth_over``); shares 1: the net; shares 1/2: halfway."""
    mesh = sphere()
    evidence = PhotoEvidence(quadrants(), constant_net(BLUE))
    photo = surface_colors(mesh, evidence, "photo")
    weight = photo_weight(mesh, visible_from(mesh, 1.0))[:, None]
    averaged = smooth_over(mesh)(photo.astype(np.float64))
    expected = weight * photo + (1 - weight) * averaged
    np.testing.assert_allclose(
        surface_colors(mesh, evidence, shares=(0.0, 0.0)), expected, atol=1e-6
    )
    front = weight[:, 0] == 1.0
    np.testing.assert_allclose(
        surface_colors(mesh, evidence, shares=(0.0, 0.0))[front], photo[front], atol=1e-6
    )
    net = np.tile(np.asarray(BLUE, np.float32), (len(mesh.vertices), 1))
    np.testing.assert_allclose(surface_colors(mesh, evidence, shares=(1.0, 1.0)), net, atol=1e-6)
    half = surface_colors(mesh, evidence, shares=(0.5, 0.5))
    mixed = 0.5 * photo.astype(np.float64) + 0.5 * net  # averaged after mixing (bilateral)
    halfway = weight * mixed + (1 - weight) * smooth_over(mesh)(mixed)
    np.testing.assert_allclose(half, halfway, atol=1e-6)


def test_the_hidden_side_is_averaged_over_a_length_whatever_the_resolution() -> None:
    """A colour step across a sphere, averaged: a constant stays constant; the step's blurred
    band is as wide on a mesh with half the edge length, and about twice as wide at twice
    the length (a random walk's reach)."""

    def band(subdivisions: int, length: float) -> float:
        mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.6)
        step = (mesh.vertices[:, 0] > 0).astype(np.float64)[:, None] * np.ones(3)
        smooth = smooth_over(mesh, length, contrast=None)
        np.testing.assert_allclose(smooth(np.full((len(mesh.vertices), 3), 0.3)), 0.3, atol=1e-12)
        f = smooth(step)[:, 0]
        return float(np.mean(4 * f * (1 - f)))  # the share of the surface in the band

    coarse, fine, wide = band(4, 0.1), band(5, 0.1), band(5, 0.2)  # edges 0.045, 0.023
    assert band(4, HIDDEN_BLUR) > 0.05  # the shipped length blurs at this resolution
    assert 0.02 < fine < 0.3
    assert abs(coarse - fine) < 0.3 * fine
    assert 1.5 < wide / fine < 2.6


def test_the_averaging_keeps_garment_boundaries_and_equals_its_rounds() -> None:
    """With ``HIDDEN_CONTRAST``, a step between two unlike colours (a red top over blue jeans)
    stays sharp while a faint step and noise within a garment are averaged away; and the
    Chebyshev series gives the same values as applying the rounds one by one."""
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.6)
    upper = mesh.vertices[:, 1] > 0
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, (len(mesh.vertices), 3))
    red, blue = np.array([0.7, 0.15, 0.1]), np.array([0.15, 0.2, 0.55])
    garments = np.where(upper[:, None], red, blue) + noise
    smoothed = smooth_over(mesh, HIDDEN_BLUR)(garments)
    plain = smooth_over(mesh, HIDDEN_BLUR, contrast=None)(garments)
    inside = np.abs(mesh.vertices[:, 1]) > 0.2
    truth = np.where(upper[:, None], red, blue)
    assert np.abs(smoothed - truth)[inside].std() < 0.4 * noise[inside].std()  # noise averaged
    edge = np.abs(mesh.vertices[:, 1]) < 0.03  # the vertices next to the boundary
    assert np.abs(smoothed - truth)[edge].max() < 0.05  # the boundary kept
    assert np.abs(plain - truth)[edge].mean() > 0.1  # a plain mean blurs it
    edges = np.asarray(mesh.edges_unique)
    across = upper[edges[:, 0]] != upper[edges[:, 1]]
    faint = np.where(upper[:, None], 0.5, 0.52) * np.ones(3)  # 1.5 CIELAB apart: averaged
    faint = smooth_over(mesh, HIDDEN_BLUR)(faint)[:, 0]
    assert np.abs(faint[edges[across, 0]] - faint[edges[across, 1]]).max() < 0.25 * 0.02
    lab = srgb_to_lab(np.clip(garments, 0.0, 1.0))
    gap = np.sum((lab[edges[:, 0]] - lab[edges[:, 1]]) ** 2, axis=1)
    weights = np.exp(-gap / (2.0 * HIDDEN_CONTRAST**2))
    count = len(mesh.vertices)
    rows = np.concatenate([edges[:, 0], edges[:, 1], np.arange(count)])
    cols = np.concatenate([edges[:, 1], edges[:, 0], np.arange(count)])
    step = sparse.csr_matrix(
        (np.concatenate([weights, weights, np.ones(count)]), (rows, cols)), shape=(count, count)
    )
    step = sparse.diags(1.0 / np.asarray(step.sum(axis=1)).ravel()) @ step
    rounds = round((0.5 / mesh.edges_unique_length.mean()) ** 2)
    assert rounds > 100  # the series is cut well before ``rounds`` terms
    values = garments
    for _ in range(rounds):
        values = step @ values
    np.testing.assert_allclose(smooth_over(mesh, 0.5)(garments), values, atol=1e-6)


def lit_sphere_photo(ambient: float = 0.25) -> np.ndarray:
    """(S, S, 3) a grey sphere of radius 0.6, lit by ``ambient`` plus a light from the upper
    left."""
    u = np.linspace(-1, 1, SIZE)
    x, y = np.meshgrid(u, -u)
    z = np.sqrt(np.clip(0.36 - x**2 - y**2, 0, None)) / 0.6
    normals = np.stack([x / 0.6, y / 0.6, z], -1)
    light = np.array([-0.5, 0.6, 0.62]) / np.linalg.norm([-0.5, 0.6, 0.62])
    shading = ambient + (1.0 - ambient) * np.clip(normals @ light, 0, None)
    return (0.5 * shading[..., None] * np.ones(3)).astype(np.float32)


def test_delighting_removes_a_directional_light() -> None:
    """A grey sphere lit from the upper left, photographed: the photo's colours vary by a factor
    of several; divided by the fitted light they are nearly flat."""
    mesh = sphere()
    photo = lit_sphere_photo()
    seen = visible_from(mesh, 1.0) & (mesh.vertex_normals[:, 2] > 0.3)
    plain = surface_colors(mesh, PhotoEvidence(photo), "photo")[seen, 0]
    flat = surface_colors(mesh, PhotoEvidence(photo), "photo", delight=True)[seen, 0]
    assert plain.std() / plain.mean() > 0.2
    assert flat.std() / flat.mean() < 0.4 * plain.std() / plain.mean()


def test_modes_that_need_a_net_say_so() -> None:
    with pytest.raises(ValueError, match="needs a colour net"):
        surface_colors(sphere(), PhotoEvidence(quadrants()), "blend")
    with pytest.raises(ValueError, match="texture mode must be one of"):
        surface_colors(sphere(), PhotoEvidence(quadrants()), "paint")


def test_harsh_light_gives_the_net_the_larger_share_and_its_light() -> None:
    """Lit from one side with little ambient light: the blend takes the harsh-light shares,
    and the photo enters it relit by the net (here a grey sphere and a flat warm net: the
    shading comes off and the net's colour is left)."""
    mesh = sphere()
    normals = np.asarray(mesh.vertex_normals)
    seen = visible_from(mesh, 1.0)
    well_seen = photo_weight(mesh, seen) > 0.5
    harsh_photo = lit_sphere_photo(0.25)
    colors = sample_image(harsh_photo, mesh.vertices).astype(np.float64)
    assert blend_shares(1.0) == HARSH_SHARES and blend_shares(0.0) == CLEAR_SHARES
    np.testing.assert_allclose(blend_shares(0.5), np.add(CLEAR_SHARES, HARSH_SHARES) / 2)
    warm = (0.6, 0.3, 0.1)
    out = surface_colors(mesh, PhotoEvidence(harsh_photo, constant_net(warm)), "blend")
    front = np.flatnonzero(normals[:, 2] > 0.7)
    net = np.tile(warm, (len(colors), 1))
    relit = net_relit(colors, net, normals, well_seen)[front]
    expected = HARSH_SHARES[0] * np.asarray(warm) + (1 - HARSH_SHARES[0]) * relit
    np.testing.assert_allclose(out[front], expected, atol=2e-3)
    # the light comes off: the blend's front varies about a fifth as much as the photo's (0.22)
    assert np.std(colors[front, 0]) > 0.08
    assert np.std(out[front, 0]) < 0.3 * np.std(colors[front, 0])
    np.testing.assert_allclose(out[front].mean(0), warm, atol=0.03)
    # a light judged already (e.g. on the reconstruction of the same photo) is used as given
    given = surface_colors(
        mesh, PhotoEvidence(harsh_photo, constant_net(warm)), "blend", harshness=0.0
    )
    weight = photo_weight(mesh, seen)
    soft = blend_colors(weight, colors, net, CLEAR_SHARES, smooth_over(mesh))
    np.testing.assert_allclose(given, soft, atol=1e-5)


def test_net_relit_takes_a_coloured_light_off_and_keeps_the_detail() -> None:
    """A sphere with fine stripes, lit by an orange light from the upper left over a bluish
    ambient: the net knows only the mean albedo. Divided by the light fitted against the net,
    each stripe is nearly one colour again, the stripes stay apart, and hidden vertices (which
    copy the front's pixel) are divided by the front's light, not extrapolated."""
    u = np.linspace(-1, 1, SIZE)
    x, y = np.meshgrid(u, -u)
    z = np.sqrt(np.clip(0.36 - x**2 - y**2, 0, None)) / 0.6
    normals = np.stack([x / 0.6, y / 0.6, z], -1)
    light = np.array([-0.5, 0.6, 0.62]) / np.linalg.norm([-0.5, 0.6, 0.62])
    lambert = np.clip(normals @ light, 0, None)[..., None]
    shading = np.array([0.15, 0.18, 0.3]) + np.array([1.0, 0.6, 0.3]) * lambert
    stripe = (np.arange(SIZE) // 4 % 2).astype(bool)[:, None] & np.ones(SIZE, bool)
    albedo = np.where(stripe[..., None], [0.7, 0.7, 0.7], [0.3, 0.5, 0.7])
    photo = (albedo * shading).astype(np.float32)
    mesh = sphere()
    v_normals = np.asarray(mesh.vertex_normals)
    seen = visible_from(mesh, 1.0)
    well_seen = photo_weight(mesh, seen) > 0.5
    colors = sample_image(photo, mesh.vertices).astype(np.float64)
    net = np.tile(albedo.reshape(-1, 3).mean(0), (len(colors), 1))
    relit = net_relit(colors, net, v_normals, well_seen)
    truth = sample_image(albedo.astype(np.float32), mesh.vertices).astype(np.float64)
    pure = np.zeros(len(truth), bool)  # vertices inside a stripe, not on its edge
    for color in (albedo[0, 0], albedo[4, 0]):
        pure |= np.abs(truth - color).max(1) < 1e-3
    front = pure & well_seen
    before = np.abs(colors[front] - truth[front]).mean()
    after = np.abs(relit[front] - truth[front]).mean()
    assert before > 0.25 and after < 0.2 * before  # 0.31 -> 0.03
    grey, blue = front & (truth[:, 0] > 0.5), front & (truth[:, 0] < 0.5)
    stripes = relit[grey].mean(0) - relit[blue].mean(0)
    assert stripes[0] > 0.3  # the stripes survive (0.4 apart in red)
    back = pure & ~seen & (v_normals[:, 2] < -0.3)
    assert back.sum() > 50
    assert np.abs(relit[back] - truth[back]).mean() < 0.2 * before
    np.testing.assert_allclose(net_relit(colors, net, v_normals, np.zeros_like(seen)), colors)


def test_the_mask_edge_and_background_take_the_colour_from_within() -> None:
    """A red disc whose rim pixels are mixed with a grey background: after ``person_image``
    the rim and the background read red, and everything well inside is untouched."""
    size = 256
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    mask = radius < 80
    image = np.full((size, size, 3), 0.5, np.float32)
    image[mask] = RED
    rim = mask & (radius > 79)
    image[rim] = (0.75, 0.25, 0.25)  # the person mixed with the grey
    image[mask & (radius < 40)] = BLUE  # detail well inside stays
    out = person_image(image, mask)
    band = round(EDGE_SHARE * size)
    assert band >= 2
    np.testing.assert_array_equal(out[rim], np.tile(RED, (rim.sum(), 1)))
    np.testing.assert_array_equal(out[~mask], np.tile(RED, ((~mask).sum(), 1)))
    inner = radius < 80 - band - 1
    np.testing.assert_array_equal(out[inner], image[inner])
    # no mask left: the image as it is; a mask of the wrong size: an error
    empty = np.zeros((size, size), bool)
    np.testing.assert_array_equal(person_image(image, empty), image)
    with pytest.raises(ValueError, match="does not match"):
        person_image(image, mask[:-1])


def test_a_light_aware_net_is_told_the_light_the_blend_judged() -> None:
    """A net that takes the light (``PhotoEvidence.light_aware``) is first asked without it
    (the light is judged with those colours), then asked again with the harshness: blue when
    told a soft light, green when harsh. The blend and the net mode use the second answer."""
    calls: list = []

    def net(vertices: np.ndarray, light: float | None = None) -> np.ndarray:
        calls.append(light)
        color = BLUE if light is not None and light < 0.5 else GREEN
        return np.tile(np.asarray(color, np.float32), (len(vertices), 1))

    mesh = sphere()
    red = np.tile(np.asarray(RED, np.float32), (SIZE, SIZE, 1))
    evidence = PhotoEvidence(red, net, light_aware=True)
    hidden = mesh.vertex_normals[:, 2] < 0
    colors = surface_colors(mesh, evidence, "net", harshness=0.0)
    assert calls == [None, 0.0]
    np.testing.assert_allclose(colors, np.tile(BLUE, (len(colors), 1)))
    calls.clear()
    blend = surface_colors(mesh, evidence, "blend")  # an even red photo: judged soft
    assert calls[0] is None and calls[1] == 0.0
    expected = np.multiply(CLEAR_SHARES[1], BLUE) + np.multiply(1 - CLEAR_SHARES[1], RED)
    np.testing.assert_allclose(blend[hidden], np.tile(expected, (hidden.sum(), 1)), atol=1e-6)
    calls.clear()
    fixed = surface_colors(mesh, evidence, "blend", shares=(1.0, 1.0), harshness=1.0)
    assert calls == [None, 1.0]
    np.testing.assert_allclose(fixed, np.tile(GREEN, (len(fixed), 1)), atol=1e-6)
