"""The original release's octree (:mod:`pifuhd.geometry.original_octree`) with PyTorch tensors
on the query's device: the same points, the same values, no transfer per chunk.

The algorithm and its eight fill passes are those of :mod:`original_octree` (read its module
docstring); only the array library differs. On a GPU every step is a handful of kernels, where
the NumPy version spends about 3 s of CPU time at R = 512 on bookkeeping alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pifuhd.geometry.grid import DEFAULT_CHUNK
from pifuhd.geometry.original_octree import _PASSES, INIT_RESOLUTION, THRESHOLD, uniform_cells
from pifuhd.geometry.progress import GridProgress, ProgressFn

TorchQueryFn = Callable[[torch.Tensor], torch.Tensor]
"""Occupancy query on a device: points (N, 3) float32 in the cube -> (N,) float32."""


def original_points_torch(index: torch.Tensor, resolution: int) -> torch.Tensor:
    """(N, 3) float32 cube-frame points of the original's sample indices (N, 3) int64:
    ``(-1 + 2i/R, 1 - 2j/R, -1 + 2k/R)`` (as :func:`original_octree.original_points`, which
    computes in float64 and rounds: so does this)."""
    scale = 2.0 / resolution
    pts = index.to(torch.float64) * scale
    pts[:, 0] -= 1.0
    pts[:, 1] = 1.0 - pts[:, 1]
    pts[:, 2] -= 1.0
    return pts.to(torch.float32)


def _cell_view(array: torch.Tensor, n: int, step: int, upper: tuple[int, ...]) -> torch.Tensor:
    """The torch twin of ``original_octree._cell_view``: a writeable 5-D view (n, a, n, b, L)
    of ``array`` (3-D, contiguous), strides in elements."""
    strides = array.stride()
    offset = sum(u * step * s for u, s in zip(upper, strides, strict=True))
    shape, view_strides = [], []
    for axis, u in enumerate(upper[:2]):
        shape += [n, 1 if u else step]
        view_strides += [strides[axis] * step, strides[axis]]
    shape.append(n if upper[2] else n * step)
    view_strides.append(strides[2] * step if upper[2] else strides[2])
    return array.as_strided(shape, view_strides, array.storage_offset() + offset)


def fill_uniform_cells_torch(
    volume: torch.Tensor, todo: torch.Tensor, skip: torch.Tensor, value: torch.Tensor, step: int
) -> None:
    """``original_octree.fill_uniform_cells`` on tensors, in place (same arguments)."""
    per_cell = (skip[:, None, :, None, :], value[:, None, :, None, :])
    rows = tuple(
        torch.repeat_interleave(a, step, dim=2)[:, None, :, None, :] for a in (skip, value)
    )
    for upper in _PASSES:
        flags, fill = per_cell if upper[2] else rows
        target = _cell_view(volume, skip.shape[0], step, upper)
        target.copy_(torch.where(flags, fill, target))
        done = _cell_view(todo, skip.shape[0], step, upper)
        done.copy_(done & ~flags)


def _corner_range(lattice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell of an (m, m, m) lattice: min and max of its 8 corners, (m-1, m-1, m-1) each."""
    m = lattice.shape[0] - 1
    corners = [
        lattice[a : a + m, b : b + m, c : c + m] for a in (0, 1) for b in (0, 1) for c in (0, 1)
    ]
    lo, hi = corners[0].clone(), corners[0].clone()
    for corner in corners[1:]:
        torch.minimum(lo, corner, out=lo)
        torch.maximum(hi, corner, out=hi)
    return lo, hi


def evaluate_original_octree_torch(
    fn: TorchQueryFn,
    resolution: int,
    device: torch.device | str = "cpu",
    init_resolution: int = INIT_RESOLUTION,
    threshold: float = THRESHOLD,
    chunk: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
) -> tuple[torch.Tensor, int]:
    """Evaluate ``fn`` on the original release's octree, on ``device``.

    Args:
        fn: occupancy query on ``device``, (N, 3) float32 -> (N,) float32.
        resolution, init_resolution, threshold, chunk, progress: as
            :func:`original_octree.evaluate_original_octree` (the same ``progress(done,
            scheduled)`` calls: each level scheduled before it is evaluated).

    Returns:
        padded: (R + 2, R + 2, R + 2) float32 on ``device``: zeros around the volume that
            ``evaluate_original_octree`` returns (flipped along y, its y samples one voxel up).
        points_evaluated: the number of points passed to ``fn``.
    """
    if resolution < 2 or chunk < 1 or init_resolution < 1:
        raise ValueError(f"bad octree arguments: R={resolution}, chunk={chunk}")
    device = torch.device(device)
    volume = torch.zeros((resolution,) * 3, dtype=torch.float32, device=device)
    todo = torch.zeros((resolution,) * 3, dtype=torch.bool, device=device)
    todo[:-1, :-1, :-1] = True
    step = max(1, resolution // init_resolution)
    evaluated = 0
    counts = GridProgress(progress)
    while True:
        lattice = (slice(0, resolution, step),) * 3
        values, wanted = volume[lattice], todo[lattice]  # views
        index = torch.nonzero(wanted)  # C order, as the NumPy version lists them
        wanted[tuple(index.T)] = False
        counts.schedule(index.shape[0])
        for start in range(0, index.shape[0], chunk):
            part = index[start : start + chunk]
            values[tuple(part.T)] = fn(original_points_torch(part * step, resolution))
            counts.advance(part.shape[0])
        evaluated += index.shape[0]
        if step == 1:
            break
        n = values.shape[0] - 1
        lo, hi = _corner_range(values)
        skip = uniform_cells(lo, hi, todo, n, step, threshold)
        fill_uniform_cells_torch(volume, todo, skip, (lo + hi) * 0.5, step)
        step //= 2
    padded = torch.zeros((resolution + 2,) * 3, dtype=torch.float32, device=device)
    padded[1:-1, 1:-1, 1:-1] = volume.flip(1)
    return padded, evaluated
