"""Grid evaluation (:mod:`pifuhd.geometry.grid`) with PyTorch tensors on the query's device.

:func:`evaluate_dense_torch` and :func:`evaluate_coarse_to_fine_torch` are
:func:`grid.evaluate_dense` and :func:`grid.evaluate_coarse_to_fine` step for step (the same
points in the same order, the same float32 interpolation), so for the same query they return
the same volume bit for bit; the volume, the masks and the points stay on the device (a GPU
evaluates, refines and interpolates without copies to the host). Both return the volume inside
a zero border, ready for :func:`pifuhd.geometry.torch_marching.marching_cubes_torch`.
"""

from __future__ import annotations

import numpy as np
import torch

from pifuhd.geometry.grid import (
    BASE_RESOLUTION,
    DEFAULT_CHUNK,
    DILATION,
    LEVEL,
    _check_args,
    coarse_step,
    grid_axis,
    lattice_indices,
)
from pifuhd.geometry.progress import GridProgress, ProgressFn
from pifuhd.geometry.torch_octree import TorchQueryFn


def _query(fn: TorchQueryFn, points: torch.Tensor) -> torch.Tensor:
    """Call ``fn`` on (N, 3) points; check it returns (N,) values; float32."""
    values = fn(points)
    if tuple(values.shape) != (points.shape[0],):
        raise ValueError(
            f"query function returned shape {tuple(values.shape)} for {points.shape[0]} "
            f"points; expected ({points.shape[0]},)"
        )
    return values.to(torch.float32)


def _evaluate_indices(
    fn: TorchQueryFn,
    index: torch.Tensor,
    axis: torch.Tensor,
    chunk: int,
    progress: GridProgress,
) -> torch.Tensor:
    """(N,) float32 values of ``fn`` at grid indices ``index`` (N, 3) int64 (``axis``: the
    grid's (R,) float32 coordinates), ``chunk`` points per call; one level of ``progress``."""
    progress.schedule(index.shape[0])
    out = torch.empty(index.shape[0], dtype=torch.float32, device=index.device)
    for start in range(0, index.shape[0], chunk):
        part = index[start : start + chunk]
        out[start : start + part.shape[0]] = _query(fn, axis[part])
        progress.advance(part.shape[0])
    return out


def _padded(volume: torch.Tensor) -> torch.Tensor:
    """``volume`` (R, R, R) inside a zero border: (R + 2, R + 2, R + 2)."""
    out = torch.zeros(tuple(n + 2 for n in volume.shape), dtype=volume.dtype, device=volume.device)
    out[1:-1, 1:-1, 1:-1] = volume
    return out


def evaluate_dense_torch(
    fn: TorchQueryFn,
    resolution: int,
    device: torch.device | str = "cpu",
    chunk: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """``grid.evaluate_dense`` on ``device`` (``progress(done, scheduled)``: all R^3 points
    scheduled up front); returns the (R + 2)^3 zero-bordered volume."""
    _check_args(resolution, chunk)
    device = torch.device(device)
    axis = torch.from_numpy(grid_axis(resolution)).to(device)
    volume = torch.empty(resolution**3, dtype=torch.float32, device=device)
    counts = GridProgress(progress)
    counts.schedule(volume.numel())
    for start in range(0, volume.numel(), chunk):
        flat = torch.arange(start, min(start + chunk, volume.numel()), device=device)
        index = torch.stack(
            [flat // resolution**2, flat // resolution % resolution, flat % resolution], dim=1
        )
        volume[start : start + flat.numel()] = _query(fn, axis[index])
        counts.advance(flat.numel())
    return _padded(volume.reshape((resolution,) * 3))


def _mixed_cells(values: torch.Tensor, threshold: float) -> torch.Tensor:
    """(n-1,)^3 bool: cells of the (n,)^3 lattice with corners on both sides of ``threshold``."""
    inside = values > threshold
    m = inside.shape[0] - 1
    corners = [
        inside[a : a + m, b : b + m, c : c + m] for a in (0, 1) for b in (0, 1) for c in (0, 1)
    ]
    any_in, all_in = corners[0].clone(), corners[0].clone()
    for corner in corners[1:]:
        any_in |= corner
        all_in &= corner
    return any_in & ~all_in


def dilate_box_torch(mask: torch.Tensor, iterations: int) -> torch.Tensor:
    """``grid.dilate_box`` (3x3x3 box, ``iterations`` times) on a bool tensor, as a 3x3x3 max
    pool (its padding never wins); a new tensor."""
    out = mask.to(torch.float32)[None, None]
    for _ in range(iterations):
        out = torch.nn.functional.max_pool3d(out, kernel_size=3, stride=1, padding=1)
    return out[0, 0] > 0


class _Refinement:
    """The per-axis index maps from one lattice to the next (small, computed with NumPy as in
    :mod:`grid`, then moved to the device)."""

    def __init__(self, coarse: np.ndarray, fine: np.ndarray, device: torch.device) -> None:
        ncell = coarse.shape[0] - 1
        is_coarse = np.isin(fine, coarse)
        new = np.flatnonzero(~is_coarse)
        cell = np.clip(np.searchsorted(coarse, fine[new], side="right") - 1, 0, ncell - 1)
        lo, hi = coarse[cell], coarse[cell + 1]
        upper = np.clip(np.searchsorted(coarse, fine, side="right") - 1, 0, ncell - 1)
        lower = np.clip(np.searchsorted(coarse, fine, side="left") - 1, 0, ncell - 1)

        def put(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        self.size = fine.shape[0]
        self.kept = put(np.flatnonzero(is_coarse))
        self.new = put(new)
        self.cell = put(cell)
        self.weight = put(((fine[new] - lo) / (hi - lo)).astype(np.float32))
        self.upper, self.lower = put(upper), put(lower)

    def interpolate(self, values: torch.Tensor, axis: int) -> torch.Tensor:
        """``grid._interpolate_axis``: coarse samples copied, the others linear in float32."""
        shape = list(values.shape)
        shape[axis] = self.size
        out = torch.empty(shape, dtype=torch.float32, device=values.device)
        out.index_copy_(axis, self.kept, values)
        if self.new.numel():
            w = [1, 1, 1]
            w[axis] = -1
            weight = self.weight.reshape(w)
            lo = values.index_select(axis, self.cell)
            lo *= 1.0 - weight
            hi = values.index_select(axis, self.cell + 1)
            hi *= weight
            lo += hi
            out.index_copy_(axis, self.new, lo)
        return out

    def spread(self, mask: torch.Tensor, axis: int) -> torch.Tensor:
        """``grid._spread_axis``: a fine point is marked when a (closed) cell holding it is."""
        return mask.index_select(axis, self.upper) | mask.index_select(axis, self.lower)


def evaluate_coarse_to_fine_torch(
    fn: TorchQueryFn,
    resolution: int,
    device: torch.device | str = "cpu",
    base_resolution: int = BASE_RESOLUTION,
    threshold: float = LEVEL,
    dilation: int = DILATION,
    chunk: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
) -> tuple[torch.Tensor, int]:
    """``grid.evaluate_coarse_to_fine`` on ``device`` (same arguments and points; the same
    ``progress(done, scheduled)`` calls, each level scheduled before it is evaluated).

    Returns:
        padded: (R + 2)^3 float32 on ``device``, the volume inside a zero border.
        points_evaluated: the number of points passed to ``fn``.
    """
    _check_args(resolution, chunk)
    if dilation < 0:
        raise ValueError(f"dilation must be >= 0, got {dilation}")
    device = torch.device(device)
    step = coarse_step(resolution, base_resolution)
    if step == 1:
        return evaluate_dense_torch(fn, resolution, device, chunk, progress), resolution**3
    counts = GridProgress(progress)
    axis = torch.from_numpy(grid_axis(resolution)).to(device)
    coarse = lattice_indices(resolution, step)
    lattice = torch.from_numpy(coarse).to(device)
    n = lattice.numel()
    index = torch.cartesian_prod(lattice, lattice, lattice)  # C order, as np.meshgrid "ij"
    values = _evaluate_indices(fn, index, axis, chunk, counts).reshape(n, n, n)
    exact = torch.ones(values.shape, dtype=torch.bool, device=device)
    evaluated = values.numel()
    while step > 1:
        step //= 2
        fine = lattice_indices(resolution, step)
        maps = _Refinement(coarse, fine, device)
        active = _mixed_cells(values, threshold)
        if dilation > 0:
            active = dilate_box_torch(active, dilation)
        for ax in (2, 1, 0):
            values = maps.interpolate(values, ax)
            active = maps.spread(active, ax)
        was_exact = exact
        exact = torch.zeros(values.shape, dtype=torch.bool, device=device)
        kept = maps.kept
        exact[kept[:, None, None], kept[None, :, None], kept[None, None, :]] = was_exact
        todo = torch.nonzero(active & ~exact)
        fine_t = torch.from_numpy(fine).to(device)
        values[tuple(todo.T)] = _evaluate_indices(fn, fine_t[todo], axis, chunk, counts)
        exact |= active
        evaluated += todo.shape[0]
        coarse = fine
    return _padded(values), evaluated
