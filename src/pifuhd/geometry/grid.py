"""Regular sample grids on the normalised cube and evaluation of an occupancy field on them.

Frame: the normalised cube [-1, 1]^3, x right, y up, z toward the viewer. A grid of resolution R
samples each axis at ``-1 + 2 i / R`` for ``i = 0 .. R-1`` (it covers [-1, 1), like the original
release), and a volume is indexed ``vol[i, j, k] <-> (x_i, y_j, z_k)``.

Two evaluators fill a (R, R, R) float32 volume from a query function:

- :func:`evaluate_dense` evaluates every grid point (R^3 queries);
- :func:`evaluate_coarse_to_fine` evaluates a coarse lattice, then refines it by halving the step,
  evaluating exactly only near cells where the surface passes and interpolating elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pifuhd.geometry.progress import GridProgress, ProgressFn

QueryFn = Callable[[np.ndarray], np.ndarray]
"""Occupancy query: points (N, 3) float32 in the normalised cube -> (N,) float32 in [0, 1]."""

DEFAULT_CHUNK = 262144

BASE_RESOLUTION = 64
"""Coarse to fine: the first lattice has at least this many samples per axis."""
LEVEL = 0.5
"""Coarse to fine: the occupancy level whose crossings are refined."""
DILATION = 1
"""Coarse to fine: cells added around the active cells at every level."""


def grid_axis(resolution: int) -> np.ndarray:
    """Sample coordinates along one axis of a grid.

    Args:
        resolution: R >= 1, the number of samples per axis.

    Returns:
        (R,) float32, ``-1 + 2 i / R`` for ``i = 0 .. R-1``: from -1 up to ``1 - 2 / R``.
    """
    if resolution < 1:
        raise ValueError(f"grid resolution must be >= 1, got {resolution}")
    return (-1.0 + 2.0 * np.arange(resolution, dtype=np.float64) / resolution).astype(np.float32)


def grid_points(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, resolution: int) -> np.ndarray:
    """Cube-frame coordinates of grid points given by integer indices.

    Args:
        ix, iy, iz: (N,) integer indices in [0, R) along x, y and z.
        resolution: R, the grid resolution.

    Returns:
        (N, 3) float32 points ``(x_ix, y_iy, z_iz)``, the same values as :func:`grid_axis`.
    """
    axis = grid_axis(resolution)
    return np.stack([axis[ix], axis[iy], axis[iz]], axis=-1)


def _query(fn: QueryFn, points: np.ndarray) -> np.ndarray:
    """Call ``fn`` on (N, 3) float32 points and check it returns (N,) values (cast to float32)."""
    values = np.asarray(fn(points))
    if values.shape != (points.shape[0],):
        raise ValueError(
            f"query function returned shape {values.shape} for {points.shape[0]} points; "
            f"expected ({points.shape[0]},)"
        )
    return values.astype(np.float32, copy=False)


def _evaluate_indices(
    fn: QueryFn,
    ix: np.ndarray,
    iy: np.ndarray,
    iz: np.ndarray,
    resolution: int,
    chunk: int,
    progress: GridProgress,
) -> np.ndarray:
    """Evaluate ``fn`` at the grid points with indices (ix, iy, iz), ``chunk`` points at a time,
    as one level of ``progress`` (scheduled first, then advanced per chunk).

    Returns:
        (N,) float32 values, in the order of the indices.
    """
    n = ix.shape[0]
    progress.schedule(n)
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        points = grid_points(ix[start:stop], iy[start:stop], iz[start:stop], resolution)
        out[start:stop] = _query(fn, points)
        progress.advance(stop - start)
    return out


def _check_args(resolution: int, chunk: int) -> None:
    if resolution < 1:
        raise ValueError(f"grid resolution must be >= 1, got {resolution}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")


def evaluate_dense(
    fn: QueryFn,
    resolution: int,
    chunk: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Evaluate ``fn`` at every point of the R^3 grid.

    Points are built per chunk from flat indices, so memory beyond the output is O(chunk).

    Args:
        fn: occupancy query, (N, 3) float32 cube-frame points -> (N,) float32.
        resolution: R, samples per axis.
        chunk: the most points passed to ``fn`` in one call.
        progress: optional ``progress(done, scheduled)`` callback
            (:mod:`pifuhd.geometry.progress`): all R^3 points are scheduled up front.

    Returns:
        (R, R, R) float32 volume, ``vol[i, j, k] = fn(x_i, y_j, z_k)``.
    """
    _check_args(resolution, chunk)
    shape = (resolution,) * 3
    volume = np.empty(shape, dtype=np.float32)
    flat = volume.reshape(-1)
    total = flat.shape[0]
    counts = GridProgress(progress)
    counts.schedule(total)
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        ix, iy, iz = np.unravel_index(np.arange(start, stop), shape)
        flat[start:stop] = _query(fn, grid_points(ix, iy, iz, resolution))
        counts.advance(stop - start)
    return volume


def coarse_step(resolution: int, base_resolution: int) -> int:
    """The first lattice step: the largest power of two s with ``R / s >= base_resolution``.

    Returns 1 (a dense evaluation) when ``R < 2 * base_resolution``.
    """
    if base_resolution < 1:
        raise ValueError(f"base_resolution must be >= 1, got {base_resolution}")
    step = 1
    while resolution >= 2 * step * base_resolution:
        step *= 2
    return step


def lattice_indices(resolution: int, step: int) -> np.ndarray:
    """Grid indices of the lattice with the given step: ``range(0, R, step)`` plus ``R - 1``.

    Returns:
        (n,) int64, strictly increasing, first 0 and last R - 1. Halving the step gives a superset.
    """
    idx = np.arange(0, resolution, step, dtype=np.int64)
    if idx[-1] != resolution - 1:
        idx = np.append(idx, resolution - 1)
    return idx


def _mixed_cells(values: np.ndarray, threshold: float) -> np.ndarray:
    """Cells whose 8 corners are not all on the same side of ``threshold``.

    Args:
        values: (n, n, n) lattice values.

    Returns:
        (n-1, n-1, n-1) bool, True where some corner is > threshold and some is not.
    """
    inside = values > threshold
    any_in = np.zeros(tuple(s - 1 for s in inside.shape), dtype=bool)
    all_in = np.ones_like(any_in)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                corner = inside[
                    di : di + any_in.shape[0], dj : dj + any_in.shape[1], dk : dk + any_in.shape[2]
                ]
                any_in |= corner
                all_in &= corner
    return any_in & ~all_in


def _locate(coarse: np.ndarray, fine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Place each fine lattice index in the coarse lattice.

    Args:
        coarse: (n,) increasing grid indices, n >= 2.
        fine: (m,) grid indices within [coarse[0], coarse[-1]].

    Returns:
        cell: (m,) int64 in [0, n-2], the coarse cell ``[coarse[c], coarse[c+1]]`` holding the index
            (the lower cell when it lies on a shared boundary, except at the last index).
        weight: (m,) float32 in [0, 1], the position within that cell.
    """
    cell = np.clip(np.searchsorted(coarse, fine, side="right") - 1, 0, coarse.shape[0] - 2)
    lo, hi = coarse[cell], coarse[cell + 1]
    weight = ((fine - lo) / (hi - lo)).astype(np.float32)
    return cell, weight


def _along(axis: int, index: np.ndarray | slice) -> tuple[np.ndarray | slice, ...]:
    """An index tuple selecting ``index`` along ``axis`` of a 3-D array."""
    key: list[np.ndarray | slice] = [slice(None)] * 3
    key[axis] = index
    return tuple(key)


def _interpolate_axis(
    values: np.ndarray, coarse: np.ndarray, fine: np.ndarray, axis: int
) -> np.ndarray:
    """Resample ``values`` from the coarse to the fine lattice along ``axis``, linearly.

    The coarse indices must be a subset of the fine ones; they are copied (exact values stay
    bit-exact); the other fine indices get ``lo * (1 - w) + hi * w`` from their two coarse
    neighbours.

    Args:
        values: float32 array with len(coarse) samples along ``axis`` (3-D).

    Returns:
        float32 array with len(fine) samples along ``axis``.
    """
    shape = list(values.shape)
    shape[axis] = fine.shape[0]
    out = np.empty(shape, dtype=np.float32)
    is_coarse = np.isin(fine, coarse)
    out[_along(axis, np.flatnonzero(is_coarse))] = values
    new = np.flatnonzero(~is_coarse)
    if new.size:
        cell, weight = _locate(coarse, fine[new])
        w = [1, 1, 1]
        w[axis] = -1
        weight = weight.reshape(w)
        lo = np.take(values, cell, axis=axis)
        lo *= 1.0 - weight
        hi = np.take(values, cell + 1, axis=axis)
        hi *= weight
        lo += hi
        out[_along(axis, new)] = lo
    return out


def dilate_box(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary dilation with a 3x3x3 box, ``iterations`` times (the box is separable per axis).

    Equal to ``scipy.ndimage.binary_dilation(mask, np.ones((3, 3, 3)), iterations)``.

    Args:
        mask: (X, Y, Z) bool.

    Returns:
        (X, Y, Z) bool, a new array.
    """
    out = mask.copy()
    for _ in range(iterations):
        for axis in range(3):
            grown = out.copy()
            n = out.shape[axis]
            grown[_along(axis, slice(1, n))] |= out[_along(axis, slice(0, n - 1))]
            grown[_along(axis, slice(0, n - 1))] |= out[_along(axis, slice(1, n))]
            out = grown
    return out


def _spread_axis(mask: np.ndarray, coarse: np.ndarray, fine: np.ndarray, axis: int) -> np.ndarray:
    """Map a per-cell mask along ``axis`` onto fine lattice points, with closed cells.

    A fine point on the boundary between cells c-1 and c is marked if either cell is marked.

    Args:
        mask: bool array with n-1 cells along ``axis``.

    Returns:
        bool array with m = len(fine) points along ``axis``.
    """
    ncell = coarse.shape[0] - 1
    upper = np.clip(np.searchsorted(coarse, fine, side="right") - 1, 0, ncell - 1)
    lower = np.clip(np.searchsorted(coarse, fine, side="left") - 1, 0, ncell - 1)
    return np.take(mask, upper, axis=axis) | np.take(mask, lower, axis=axis)


def _exact_on_fine(exact: np.ndarray, coarse: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """(m, m, m) bool: fine lattice points that are coarse lattice points already evaluated.

    ``coarse`` must be a subset of ``fine`` (as :func:`lattice_indices` guarantees).
    """
    sel = np.flatnonzero(np.isin(fine, coarse))
    out = np.zeros((fine.shape[0],) * 3, dtype=bool)
    out[np.ix_(sel, sel, sel)] = exact
    return out


def evaluate_coarse_to_fine(
    fn: QueryFn,
    resolution: int,
    base_resolution: int = BASE_RESOLUTION,
    threshold: float = LEVEL,
    dilation: int = DILATION,
    chunk: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, int]:
    """Evaluate ``fn`` on the R^3 grid, exactly only where the ``threshold`` surface passes.

    Algorithm: evaluate the lattice ``range(0, R, s) + [R-1]`` for the first step
    ``s = coarse_step(R, base_resolution)``. Then halve s until 1: cells of the current lattice
    whose corners straddle ``threshold`` are active, grown by ``dilation`` cells (3x3x3); the next
    lattice is linearly interpolated from the current one (so points in inactive cells keep the
    side of their cell), and every point lying in a closed active cell that was not evaluated yet
    is evaluated with ``fn``. Thin features that the first lattice misses entirely stay missed.

    Args:
        fn: occupancy query, (N, 3) float32 cube-frame points -> (N,) float32.
        resolution: R, samples per axis of the output.
        base_resolution: the first lattice has at least this many samples per axis; when
            ``R < 2 * base_resolution`` this is a dense evaluation.
        threshold: the level whose crossings are refined (inside is ``> threshold``).
        dilation: cells added around active cells at every level (>= 0).
        chunk: the most points passed to ``fn`` in one call.
        progress: optional ``progress(done, scheduled)`` callback
            (:mod:`pifuhd.geometry.progress`): each level's points are scheduled before it is
            evaluated, so the total grows level by level.

    Returns:
        volume: (R, R, R) float32, exact near the surface, interpolated elsewhere.
        points_evaluated: the number of points passed to ``fn``.
    """
    _check_args(resolution, chunk)
    if dilation < 0:
        raise ValueError(f"dilation must be >= 0, got {dilation}")
    step = coarse_step(resolution, base_resolution)
    if step == 1:
        return evaluate_dense(fn, resolution, chunk, progress), resolution**3

    counts = GridProgress(progress)
    coarse = lattice_indices(resolution, step)
    gx, gy, gz = (a.reshape(-1) for a in np.meshgrid(coarse, coarse, coarse, indexing="ij"))
    values = _evaluate_indices(fn, gx, gy, gz, resolution, chunk, counts)
    values = values.reshape((coarse.shape[0],) * 3)
    exact = np.ones(values.shape, dtype=bool)
    evaluated = values.size

    while step > 1:
        step //= 2
        fine = lattice_indices(resolution, step)
        active = _mixed_cells(values, threshold)
        if dilation > 0:
            active = dilate_box(active, dilation)

        for axis in (2, 1, 0):  # the innermost axis first, while the array is smallest
            values = _interpolate_axis(values, coarse, fine, axis)
            active = _spread_axis(active, coarse, fine, axis)
        exact = _exact_on_fine(exact, coarse, fine)

        a, b, c = np.nonzero(active & ~exact)
        values[a, b, c] = _evaluate_indices(
            fn, fine[a], fine[b], fine[c], resolution, chunk, counts
        )
        exact |= active
        evaluated += a.shape[0]
        coarse = fine

    return values.astype(np.float32, copy=False), evaluated
