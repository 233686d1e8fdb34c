"""Marching cubes on analytic fields: closed, outward, in the cube frame."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.geometry.grid import evaluate_dense, grid_axis
from pifuhd.geometry.marching import extract_mesh

RADIUS = 0.5
RESOLUTION = 64
VOXEL = 2.0 / RESOLUTION
VOLUME_RTOL = 0.02
OUTWARD_FRACTION = 0.99
POSITION_ATOL = 1e-6


def sphere_field(center: tuple[float, float, float], radius: float, sharpness: float = 20.0):
    """Occupancy sigmoid(sharpness * (radius - |p - center|)): exactly 0.5 on the sphere."""

    def field(points: np.ndarray) -> np.ndarray:
        dist = np.linalg.norm(points.astype(np.float64) - center, axis=1)
        return (1.0 / (1.0 + np.exp(-sharpness * (radius - dist)))).astype(np.float32)

    return field


@pytest.fixture(scope="module")
def sphere_mesh():
    return extract_mesh(evaluate_dense(sphere_field((0.0, 0.0, 0.0), RADIUS), RESOLUTION))


def test_sphere_is_watertight_with_the_right_volume(sphere_mesh) -> None:
    assert sphere_mesh.is_watertight
    expected = 4.0 / 3.0 * np.pi * RADIUS**3
    assert sphere_mesh.volume > 0
    np.testing.assert_allclose(sphere_mesh.volume, expected, rtol=VOLUME_RTOL)


def test_sphere_vertices_lie_on_the_sphere(sphere_mesh) -> None:
    radii = np.linalg.norm(sphere_mesh.vertices, axis=1)
    assert np.abs(radii - RADIUS).max() < 0.5 * VOXEL


def test_sphere_normals_point_outward(sphere_mesh) -> None:
    normals = sphere_mesh.vertex_normals
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    outward = (normals * sphere_mesh.vertices).sum(axis=1) > 0
    assert outward.mean() > OUTWARD_FRACTION
    faces_outward = (sphere_mesh.face_normals * sphere_mesh.triangles_center).sum(axis=1) > 0
    assert faces_outward.mean() > OUTWARD_FRACTION


def test_field_touching_the_border_is_closed_by_padding() -> None:
    volume = evaluate_dense(sphere_field((0.8, 0.0, 0.0), RADIUS), 32)
    assert (volume[-1] > 0.5).any()
    mesh = extract_mesh(volume)
    assert mesh.is_watertight and mesh.volume > 0
    assert not extract_mesh(volume, pad=False).is_watertight


def test_field_inside_everywhere_gives_the_padded_box() -> None:
    resolution = 16
    mesh = extract_mesh(np.ones((resolution,) * 3, np.float32))
    assert mesh.is_watertight and mesh.volume > 0
    # The cap lies halfway between the border samples (-1, 1 - 2/R) and the padding one voxel out.
    step = 2.0 / resolution
    np.testing.assert_allclose(mesh.bounds[0], -1.0 - step / 2, atol=POSITION_ATOL)
    np.testing.assert_allclose(mesh.bounds[1], 1.0 - step / 2, atol=POSITION_ATOL)


def test_no_crossing_gives_an_empty_mesh() -> None:
    assert len(extract_mesh(np.zeros((8, 8, 8), np.float32)).vertices) == 0
    empty = extract_mesh(np.ones((8, 8, 8), np.float32), pad=False)
    assert len(empty.vertices) == 0 and len(empty.faces) == 0


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_plane_position_pins_the_index_to_cube_map(axis: int) -> None:
    """A ramp 0.5 - (c - 0.3) along one axis crosses 0.5 exactly at c = 0.3 on that axis."""
    resolution = 20
    coords = grid_axis(resolution).astype(np.float64)
    shape = [1, 1, 1]
    shape[axis] = resolution
    ramp = 0.5 - (coords.reshape(shape) - 0.3)
    volume = np.broadcast_to(ramp, (resolution,) * 3).astype(np.float32)
    mesh = extract_mesh(volume)
    assert mesh.is_watertight and mesh.volume > 0
    np.testing.assert_allclose(mesh.vertices[:, axis].max(), 0.3, atol=POSITION_ATOL)
    others = [a for a in range(3) if a != axis]
    assert mesh.vertices[:, others].max() > 0.9

    shifted = extract_mesh(volume, bounds=(0.0, 2.0))
    np.testing.assert_allclose(shifted.vertices, mesh.vertices + 1.0, atol=POSITION_ATOL)


def test_samples_exactly_on_the_level_still_give_a_closed_mesh() -> None:
    volume = evaluate_dense(sphere_field((0.0, 0.0, 0.0), RADIUS), 32)
    quantised = np.round(volume * 4.0) / 4.0  # many samples exactly 0.5
    assert (quantised == 0.5).sum() > 100
    mesh = extract_mesh(quantised)
    assert mesh.is_watertight and mesh.volume > 0


def test_rejects_bad_volumes() -> None:
    with pytest.raises(ValueError, match="shape"):
        extract_mesh(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        extract_mesh(np.zeros((4, 4, 5), np.float32))
    bad = np.zeros((4, 4, 4), np.float32)
    bad[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        extract_mesh(bad)


def test_padded_buffer_is_used_in_place_and_gives_the_same_mesh() -> None:
    from pifuhd.geometry.marching import padded_base

    r = 20
    axis = np.linspace(-1, 1, r, dtype=np.float32)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    field = (1.0 / (1.0 + np.exp((np.sqrt(x**2 + y**2 + z**2) - 0.9) * 20))).astype(np.float32)
    buffer = np.zeros((r + 2,) * 3, dtype=np.float32)
    inner = buffer[1:-1, 1:-1, 1:-1]
    inner[...] = field
    assert padded_base(inner, 0.5) is buffer
    assert padded_base(field, 0.5) is None  # a plain array has no such buffer
    assert padded_base(buffer[1:-1, 1:-1, 2:], 0.5) is None  # not the interior
    a, b = extract_mesh(field), extract_mesh(inner)
    np.testing.assert_allclose(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    buffer[0, 5, 5] = 1.0  # a border sample inside: the buffer cannot serve as padding
    assert padded_base(inner, 0.5) is None
