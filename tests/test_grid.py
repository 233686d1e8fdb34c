"""Grid sampling and dense / coarse-to-fine evaluation of an occupancy field."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pifuhd.geometry.grid import (
    coarse_step,
    dilate_box,
    evaluate_coarse_to_fine,
    evaluate_dense,
    grid_axis,
    grid_points,
    lattice_indices,
)
from pifuhd.geometry.marching import extract_mesh

SHARPNESS = 25.0  # occupancy = sigmoid(-SHARPNESS * distance)
SMOOTH_UNION = 0.05  # blend radius of the smooth minimum
VERTEX_ATOL = 1e-6


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Log-sum-exp smooth minimum of two distance fields."""
    m = np.minimum(a, b)
    return m - k * np.log(np.exp((m - a) / k) + np.exp((m - b) / k))


def blob_field(points: np.ndarray) -> np.ndarray:
    """Smooth union of two spheres and a thin ellipsoid (0.24 thick along z), as occupancy.

    points: (N, 3) float32 in the cube -> (N,) float32 in (0, 1), inside > 0.5.
    """
    p = points.astype(np.float64)
    sphere_a = np.linalg.norm(p - (0.25, 0.15, 0.0), axis=1) - 0.35
    sphere_b = np.linalg.norm(p - (-0.3, -0.2, 0.1), axis=1) - 0.3
    scaled = (p - (0.0, -0.55, -0.1)) / (0.5, 0.25, 0.12)
    ellipsoid = (np.linalg.norm(scaled, axis=1) - 1.0) * 0.12  # about a distance near the shell
    dist = _smooth_min(_smooth_min(sphere_a, sphere_b, SMOOTH_UNION), ellipsoid, SMOOTH_UNION)
    return (1.0 / (1.0 + np.exp(SHARPNESS * dist))).astype(np.float32)


def surface_points(volume: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(R, R, R) bool: every corner of every grid cell whose corners straddle ``threshold``."""
    inside = volume > threshold
    n = volume.shape[0] - 1
    offsets = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    corners = [inside[a : a + n, b : b + n, c : c + n] for a, b, c in offsets]
    mixed = np.logical_or.reduce(corners) & ~np.logical_and.reduce(corners)
    near = np.zeros_like(inside)
    for a, b, c in offsets:
        near[a : a + n, b : b + n, c : c + n] |= mixed
    return near


def test_grid_axis_values() -> None:
    axis = grid_axis(4)
    assert axis.dtype == np.float32
    np.testing.assert_array_equal(axis, [-1.0, -0.5, 0.0, 0.5])
    axis = grid_axis(100)
    assert axis[0] == -1.0 and axis[50] == 0.0
    np.testing.assert_allclose(axis[-1], 1.0 - 2.0 / 100, rtol=0, atol=1e-7)


def test_grid_points_match_axis() -> None:
    axis = grid_axis(8)
    ix, iy, iz = np.array([0, 7, 3]), np.array([1, 2, 6]), np.array([5, 0, 4])
    points = grid_points(ix, iy, iz, 8)
    assert points.shape == (3, 3) and points.dtype == np.float32
    np.testing.assert_array_equal(points, np.stack([axis[ix], axis[iy], axis[iz]], axis=1))


def test_evaluate_dense_pins_axis_order() -> None:
    """vol[i, j, k] = f(x_i, y_j, z_k) for f = x + 10 y + 100 z, in any chunking."""

    def linear(points: np.ndarray) -> np.ndarray:
        return points[:, 0] + 10.0 * points[:, 1] + 100.0 * points[:, 2]

    resolution = 12
    axis = grid_axis(resolution)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    expected = x + 10.0 * y + 100.0 * z
    for chunk in (1000, 7, resolution**3):
        volume = evaluate_dense(linear, resolution, chunk=chunk)
        assert volume.shape == (resolution,) * 3 and volume.dtype == np.float32
        np.testing.assert_array_equal(volume, expected)


def test_evaluate_dense_matches_direct_numpy() -> None:
    resolution = 40
    axis = grid_axis(resolution)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    direct = blob_field(np.stack([x, y, z], axis=-1).reshape(-1, 3)).reshape(x.shape)
    calls: list[tuple[int, int]] = []
    volume = evaluate_dense(blob_field, resolution, chunk=5000, progress=lambda *c: calls.append(c))
    np.testing.assert_array_equal(volume, direct)
    done = [d for d, _ in calls]
    assert calls[0] == (0, resolution**3) and calls[-1] == (resolution**3, resolution**3)
    assert max(np.diff(done)) <= 5000


def test_query_function_with_wrong_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected"):
        evaluate_dense(lambda p: p[:, :1], 4)


@pytest.mark.parametrize(
    ("resolution", "base", "step"),
    [(128, 64, 2), (100, 64, 1), (512, 64, 8), (63, 64, 1), (100, 16, 4), (64, 16, 4)],
)
def test_coarse_step(resolution: int, base: int, step: int) -> None:
    assert coarse_step(resolution, base) == step


def test_lattice_indices_span_grid_and_nest() -> None:
    for resolution in (64, 100, 128):
        for step in (1, 2, 4, 8):
            idx = lattice_indices(resolution, step)
            assert idx[0] == 0 and idx[-1] == resolution - 1
            assert np.all(np.diff(idx) > 0) and np.all(np.diff(idx) <= step)
            assert np.isin(lattice_indices(resolution, step * 2), idx).all()
    np.testing.assert_array_equal(lattice_indices(100, 1), np.arange(100))


@pytest.mark.parametrize(("resolution", "base"), [(64, 16), (100, 16), (128, 64), (128, 32)])
def test_coarse_to_fine_is_exact_near_the_surface(resolution: int, base: int) -> None:
    dense = evaluate_dense(blob_field, resolution)
    fast, evaluated = evaluate_coarse_to_fine(blob_field, resolution, base_resolution=base)
    assert fast.shape == dense.shape and fast.dtype == np.float32

    near = surface_points(dense)
    assert near.sum() > 1000
    np.testing.assert_array_equal(fast[near], dense[near])
    np.testing.assert_array_equal(fast > 0.5, dense > 0.5)
    assert evaluated < 0.35 * resolution**3

    mesh_dense, mesh_fast = extract_mesh(dense), extract_mesh(fast)
    assert len(mesh_dense.vertices) > 1000
    assert len(mesh_fast.vertices) == len(mesh_dense.vertices)
    np.testing.assert_allclose(mesh_fast.vertices, mesh_dense.vertices, rtol=0, atol=VERTEX_ATOL)
    np.testing.assert_array_equal(mesh_fast.faces, mesh_dense.faces)


def test_coarse_to_fine_evaluates_under_a_fifth_of_the_grid_at_128() -> None:
    _, evaluated = evaluate_coarse_to_fine(blob_field, 128, base_resolution=64)
    assert evaluated < 0.2 * 128**3


def test_coarse_to_fine_never_queries_a_point_twice() -> None:
    seen: list[np.ndarray] = []

    def recording(points: np.ndarray) -> np.ndarray:
        seen.append(points.copy())
        return blob_field(points)

    calls: list[tuple[int, int]] = []
    _, evaluated = evaluate_coarse_to_fine(
        recording, 100, base_resolution=16, chunk=20000, progress=lambda *c: calls.append(c)
    )
    queried = np.concatenate(seen)
    assert queried.shape[0] == evaluated == calls[-1][0] == calls[-1][1]
    assert np.unique(queried, axis=0).shape[0] == evaluated
    assert np.isin(queried, grid_axis(100)).all()


def test_coarse_to_fine_below_base_is_dense() -> None:
    dense = evaluate_dense(blob_field, 48)
    fast, evaluated = evaluate_coarse_to_fine(blob_field, 48, base_resolution=64)
    assert evaluated == 48**3
    np.testing.assert_array_equal(fast, dense)


def test_coarse_to_fine_of_empty_field_evaluates_only_the_first_lattice() -> None:
    fast, evaluated = evaluate_coarse_to_fine(
        lambda p: np.zeros(p.shape[0], np.float32), 100, base_resolution=16
    )
    assert evaluated == lattice_indices(100, 4).shape[0] ** 3
    np.testing.assert_array_equal(fast, np.zeros((100, 100, 100), np.float32))


def test_more_dilation_evaluates_more_points() -> None:
    counts = [
        evaluate_coarse_to_fine(blob_field, 64, base_resolution=16, dilation=d)[1]
        for d in (0, 1, 2)
    ]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("iterations", [1, 2])
def test_dilate_box_matches_scipy(iterations: int) -> None:
    mask = np.random.default_rng(0).random((9, 11, 13)) > 0.97
    mask[0, 0, 0] = mask[-1, -1, -1] = True
    expected = ndimage.binary_dilation(mask, np.ones((3, 3, 3), bool), iterations=iterations)
    np.testing.assert_array_equal(dilate_box(mask, iterations), expected)
