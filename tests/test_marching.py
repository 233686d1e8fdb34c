"""Marching cubes on analytic fields: closed, outward, in the cube frame."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.geometry import slabs
from pifuhd.geometry.grid import evaluate_dense, grid_axis
from pifuhd.geometry.marching import break_ties, extract_mesh
from pifuhd.geometry.slabs import (
    SLAB_MIN_PLANES,
    SLAB_MIN_THICKNESS,
    AmbiguousJoinError,
    join_slabs,
    lewiner,
    march,
    upper_slab,
)

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


def _wavy_volume(n: int = 140) -> np.ndarray:
    """(n + 2)^3 padded occupancy of a wavy ellipsoid, ties broken."""
    axis = np.linspace(-1.0, 1.0, n)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    radius = np.sqrt(x**2 + (1.3 * y) ** 2 + z**2) + 0.1 * np.sin(5.0 * x)
    occupancy = 1.0 / (1.0 + np.exp(-20.0 * (0.6 - radius)))
    return break_ties(np.pad(occupancy.astype(np.float32), 1), 0.5)


def _same_surface(a, b) -> None:
    """The two surfaces have the same vertices (up to order, within float32 rounding), the
    same faces with the same winding, and the same normals."""
    from scipy.spatial import cKDTree

    (va, fa, na), (vb, fb, nb) = a, b
    assert len(va) == len(vb) and len(fa) == len(fb)
    distance, match = cKDTree(va).query(vb)  # vertex i of b is vertex match[i] of a
    assert distance.max() < 1e-4
    assert len(np.unique(match)) == len(match)
    np.testing.assert_allclose(nb, na[match], atol=1e-6)

    def canonical(faces: np.ndarray) -> np.ndarray:
        shift = np.argmin(faces, axis=1)[:, None]
        rotated = np.take_along_axis(faces, (shift + np.arange(3)) % 3, axis=1)
        return rotated[np.lexsort(rotated.T[::-1])]

    np.testing.assert_array_equal(canonical(match[fb]), canonical(fa))


@pytest.mark.parametrize("workers", [3, 4])
def test_several_slab_march_is_the_one_process_surface(workers: int) -> None:
    """Middle slabs (a seam below and above) joined in turn give the one-process surface."""
    volume = _wavy_volume()
    assert volume.shape[0] // SLAB_MIN_THICKNESS >= workers
    _same_surface(lewiner(volume, 0.5), march(volume, 0.5, workers=workers))


def test_two_slab_march_is_the_one_process_surface() -> None:
    """The upper slab marched in a forked process and joined at the seam gives the surface
    of one march, normals on the seam included."""
    volume = _wavy_volume()
    assert volume.shape[0] >= SLAB_MIN_PLANES
    one = lewiner(volume, 0.5)
    two = march(volume, 0.5, workers=2)
    _same_surface(one, two)
    split = volume.shape[0] // 2
    on_seam = np.isclose(two[0][:, 0], split)
    assert on_seam.sum() > 50  # the seam is crossed: the join did something


def test_join_by_hand_matches_and_ambiguity_is_refused() -> None:
    volume = _wavy_volume()
    split = volume.shape[0] // 2
    lower = lewiner(volume[: split + 1], 0.5)
    upper = upper_slab(volume[split - 1 :], 0.5)
    _same_surface(lewiner(volume, 0.5), join_slabs(lower, upper, split))
    # an upper seam vertex moved off its twin: no silent mismatch
    lower = lewiner(volume[: split + 1], 0.5)
    upper = upper_slab(volume[split - 1 :], 0.5)
    seam = np.flatnonzero(upper[0][:, 0] == 1.0)[0]
    upper[0][seam, 1] += 0.25
    with pytest.raises(AmbiguousJoinError):
        join_slabs(lower, upper, split)


def test_failed_child_falls_back_to_one_process(monkeypatch, caplog) -> None:
    def broken(volume, level):
        raise RuntimeError("boom")

    volume = _wavy_volume()
    monkeypatch.setattr(slabs, "upper_slab", broken)  # the forked child calls this one
    with caplog.at_level("WARNING", logger="pifuhd.geometry.slabs"):
        surface = march(volume, 0.5, workers=2)
    assert "boom" in caplog.text
    _same_surface(lewiner(volume, 0.5), surface)


def test_two_slab_mesh_is_closed_and_equal_to_one() -> None:
    volume = _wavy_volume()[1:-1, 1:-1, 1:-1].copy()
    one, two = extract_mesh(volume, workers=1), extract_mesh(volume, workers=2)
    assert two.is_watertight and two.volume > 0
    np.testing.assert_allclose(two.volume, one.volume, rtol=1e-6)
    assert len(two.vertices) == len(one.vertices)


def test_no_fork_falls_back_to_one_process(monkeypatch, caplog) -> None:
    def no_fork():
        raise OSError(12, "Cannot allocate memory")

    volume = _wavy_volume()
    monkeypatch.setattr(slabs.os, "fork", no_fork)
    with caplog.at_level("WARNING", logger="pifuhd.geometry.slabs"):
        surface = march(volume, 0.5, workers=2)
    assert "cannot fork" in caplog.text
    _same_surface(lewiner(volume, 0.5), surface)
