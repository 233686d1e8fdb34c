"""The vectorised original octree against a plain loop over cells written from its description."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pifuhd.geometry.grid import evaluate_dense
from pifuhd.geometry.original_octree import (
    evaluate_original_octree,
    fill_uniform_cells,
    original_points,
)


def _loop_octree(field, resolution: int, init: int, threshold: float) -> tuple[np.ndarray, int]:
    """The rule as a loop (the original's own index space, y not flipped)."""
    r = resolution
    sdf = np.zeros((r, r, r), dtype=np.float64)
    todo = np.zeros((r, r, r), dtype=bool)
    todo[:-1, :-1, :-1] = True
    step, count = max(1, r // init), 0
    while True:
        for i in range(0, r, step):
            for j in range(0, r, step):
                for k in range(0, r, step):
                    if todo[i, j, k]:
                        sdf[i, j, k] = field(original_points(*map(np.array, ([i], [j], [k])), r))[0]
                        todo[i, j, k] = False
                        count += 1
        if step == 1:
            return sdf, count
        lat = np.arange(0, r, step)
        plan = []
        for i in lat[:-1]:
            for j in lat[:-1]:
                for k in lat[:-1]:
                    corners = [
                        sdf[i + a, j + b, k + c]
                        for a in (0, step)
                        for b in (0, step)
                        for c in (0, step)
                    ]
                    centre = todo[i + step // 2, j + step // 2, k + step // 2]
                    if centre and max(corners) - min(corners) < threshold:
                        plan.append((i, j, k, 0.5 * (max(corners) + min(corners))))
        for i, j, k, value in plan:  # C order: later cells overwrite shared faces
            sdf[i : i + step + 1, j : j + step + 1, k : k + step + 1] = value
            todo[i : i + step + 1, j : j + step + 1, k : k + step + 1] = False
        step //= 2


def _blobs(seed: int):
    """A smooth field with a few blobs and flat regions on both sides of 0.5."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-0.8, 0.8, size=(6, 3))
    radii = rng.uniform(0.08, 0.4, size=6)

    def field(points: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(points[:, None, :] - centres[None], axis=2) - radii
        return (1.0 / (1.0 + np.exp(d.min(axis=1) / 0.04))).astype(np.float32)

    return field


@pytest.mark.parametrize(("resolution", "init", "seed"), [(32, 4, 0), (32, 8, 1), (24, 4, 2)])
def test_vectorised_octree_equals_the_loop(resolution: int, init: int, seed: int) -> None:
    field = _blobs(seed)
    ours, n_ours = evaluate_original_octree(field, resolution, init, 0.05, chunk=97)
    loop, n_loop = _loop_octree(field, resolution, init, 0.05)
    assert n_ours == n_loop
    assert n_ours < resolution**3 // 2  # the octree skipped work
    np.testing.assert_allclose(ours, loop[:, ::-1, :], rtol=0, atol=1e-6)


def test_filled_blocks_keep_the_c_order_last_cell_on_shared_samples() -> None:
    # 2 x 2 x 2 cells of step 2 on a 5^3 volume, all filled with their own number: the centre
    # sample (2, 2, 2) is shared by all eight and must hold the last cell's value, 7.
    volume = np.full((5, 5, 5), -1.0, dtype=np.float32)
    todo = np.ones((5, 5, 5), dtype=bool)
    value = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    fill_uniform_cells(volume, todo, np.ones((2, 2, 2), dtype=bool), value, 2)
    assert volume[2, 2, 2] == 7.0
    assert volume[0, 0, 0] == 0.0 and volume[4, 4, 4] == 7.0
    assert volume[2, 0, 0] == 4.0  # shared by cells (0,0,0) and (1,0,0): x decides
    assert volume[0, 2, 2] == 3.0  # cells (0,0,0), (0,0,1), (0,1,0), (0,1,1)
    assert not todo.any()
    skip = np.zeros((2, 2, 2), dtype=bool)
    skip[1, 1, 1] = True
    volume[:] = -1.0
    fill_uniform_cells(volume, todo, skip, value, 2)
    assert (volume[2:, 2:, 2:] == 7.0).all() and (volume[:2] == -1.0).all()


def test_points_follow_the_original_frame_and_dense_fields_agree() -> None:
    pts = original_points(np.array([0, 4]), np.array([0, 4]), np.array([0, 2]), 8)
    np.testing.assert_allclose(pts, [[-1.0, 1.0, -1.0], [0.0, 0.0, -0.5]])
    # where the octree evaluates everything (init = R), it is the dense grid one voxel higher
    # in y, without the original's last sample of each axis
    field = _blobs(3)
    ours, count = evaluate_original_octree(field, 16, 16, 0.05)
    assert count == 15**3
    dense = evaluate_dense(field, 16)
    np.testing.assert_allclose(ours[:-1, 1:-1, :-1], dense[:-1, 2:, :-1], atol=1e-6)
    assert (ours[-1] == 0).all() and (ours[:, 0] == 0).all() and (ours[:, :, -1] == 0).all()


def test_reconstructor_with_the_original_octree_matches_our_grid_on_a_smooth_field() -> None:
    from scipy.spatial import cKDTree

    from pifuhd.inference import Reconstructor
    from pifuhd.weights import default_checkpoint

    sample = Path(__file__).parents[1] / "examples" / "person.png"
    resolution = 128  # first lattice step 2: one fill level
    meshes, counts = [], []
    for octree in (False, True):
        rec = Reconstructor(
            default_checkpoint(), "cpu", resolution, original_octree=octree, precision="fp32"
        )
        result = rec(sample)
        meshes.append(np.asarray(result.mesh.vertices))
        counts.append(result.points_evaluated)
    assert counts[1] < resolution**3 // 2
    voxel = 2.0 / resolution
    ab = cKDTree(meshes[1]).query(meshes[0])[0] / voxel
    ba = cKDTree(meshes[0]).query(meshes[1])[0] / voxel
    # same field, lattices one voxel apart in y: the surfaces agree to well under a voxel
    assert (ab.mean() + ba.mean()) / 2 < 0.25
    # the y offset is applied: without it the meshes would sit a voxel apart along y
    assert abs(np.median(meshes[1][:, 1]) - np.median(meshes[0][:, 1])) < 0.25 * voxel


def test_calls_are_whole_chunks_across_blocks_of_planes(monkeypatch) -> None:
    """Blocks of a few x-planes (many remainders): the same values as the loop, every call
    exactly ``chunk`` points but at most one per lattice level."""
    import pifuhd.geometry.original_octree as octree

    monkeypatch.setattr(octree, "SLAB_SAMPLES", 150)  # a block is 1 to 9 planes here
    field = _blobs(3)
    sizes: list[int] = []

    def counted(points: np.ndarray) -> np.ndarray:
        sizes.append(len(points))
        return field(points)

    ours, n_ours = evaluate_original_octree(counted, 32, 4, 0.05, chunk=97)
    loop, n_loop = _loop_octree(field, 32, 4, 0.05)
    assert n_ours == n_loop == sum(sizes)
    np.testing.assert_allclose(ours, loop[:, ::-1, :], rtol=0, atol=1e-6)
    levels = 4  # steps 8, 4, 2, 1
    assert sum(size != 97 for size in sizes) <= levels and len(sizes) > 2 * levels, sizes
