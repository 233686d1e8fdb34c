"""The original release's octree grid evaluation, vectorised: the same points and values.

PIFu / PIFuHD evaluate their occupancy grid with an octree (``eval_grid_octree`` in their
``sdf.py``, threshold 0.05, first lattice 64 samples per axis). Described as an algorithm, in
its own index space ``(i, j, k) in [0, R)^3``:

1. ``todo`` marks every sample but the last of each axis (index R-1 is never evaluated and
   keeps the value 0 unless a fill below covers it). The step starts at ``s = R // 64``.
2. Evaluate the lattice points (multiples of s) that are still in ``todo``; drop them from it.
   Stop after s = 1.
3. For every cell of that lattice (corners at consecutive multiples of s) whose centre sample is
   still in ``todo`` and whose 8 corner values span less than ``threshold``: write the mid-range
   ``(min + max) / 2`` to the cell's whole closed block ``[x, x + s]^3``, corners included, and
   drop the block from ``todo``. Cells are written in C order (x, then y, then z), so where two
   blocks share a face, edge or corner the later cell's value stays.
4. Halve s and go to 2.

Here step 3 is eight vectorised passes instead of a Python loop over cells: a sample on the
lower face of a cell along an axis is also on the upper face of the previous cell, and of the
cells covering a sample the C-order-last one is the one whose block starts latest along x, then
y, then z. Writing the half-open blocks last and the upper faces first (in that priority) gives
the same values as the loop; ``tests/test_original_octree.py`` checks this against a loop.

Frame: the original samples ``(x, y, z) = (-1 + 2i/R, 1 - 2j/R, -1 + 2k/R)`` (its calibration
flips y). :func:`evaluate_original_octree` returns the volume flipped along y, so it increases
with y like :mod:`pifuhd.geometry.grid`, but its y samples are one voxel higher: index j holds
``y = -1 + 2 (j + 1) / R`` (see :data:`Y_OFFSET_VOXELS`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from pifuhd.geometry.grid import DEFAULT_CHUNK, QueryFn
from pifuhd.geometry.progress import GridProgress, ProgressFn

INIT_RESOLUTION = 64
"""Samples per axis of the original's first lattice."""
THRESHOLD = 0.05
"""The original's refinement rule: a cell whose corners span less than this is filled."""
Y_OFFSET_VOXELS = 1
"""The returned volume's y samples sit this many voxels above those of ``grid_axis``."""


def original_points(i: np.ndarray, j: np.ndarray, k: np.ndarray, resolution: int) -> np.ndarray:
    """(N, 3) float32 cube-frame points of the original's integer sample indices (N,) each."""
    scale = 2.0 / resolution
    pts = np.stack([-1.0 + scale * i, 1.0 - scale * j, -1.0 + scale * k], axis=1)
    return pts.astype(np.float32)


def _cell_view(array: np.ndarray, n_cells: int, step: int, upper: tuple[int, ...]) -> np.ndarray:
    """A writeable 5-D view (n, a, n, b, L) of ``array`` (3-D, C-contiguous): along x and y
    either the half-open blocks ``[c s, c s + s)`` (a = s) or, where ``upper`` is 1, the upper
    faces ``(c + 1) s`` (a = 1) of cells c = 0 .. n - 1; along z the upper faces (L = n, every
    s-th sample) or the blocks as whole rows (L = n s samples, so the innermost loop is long)."""
    start = array[tuple(slice(u * step, None) for u in upper)]
    shape, strides = [], []
    for axis, u in enumerate(upper[:2]):
        stride = array.strides[axis]
        shape += [n_cells, 1 if u else step]
        strides += [stride * step, stride]
    z_stride = array.strides[2]
    shape.append(n_cells if upper[2] else n_cells * step)
    strides.append(z_stride * step if upper[2] else z_stride)
    return as_strided(start, shape=shape, strides=strides, writeable=True)


# Passes from the lowest priority to the highest: a sample covered by several filled cells
# keeps the value of the C-order-last one, i.e. the smallest (upper-face) flags in x, y, z.
_PASSES = tuple((a, b, c) for a in (1, 0) for b in (1, 0) for c in (1, 0))


def fill_uniform_cells(
    volume: np.ndarray, todo: np.ndarray, skip: np.ndarray, value: np.ndarray, step: int
) -> None:
    """Step 3 of the module docstring, in place.

    Args:
        volume: (R, R, R) float32, C-contiguous.
        todo: (R, R, R) bool, C-contiguous; cleared on the filled blocks.
        skip: (n, n, n) bool, the cells to fill (cell c spans samples ``[c s, c s + s]``).
        value: (n, n, n) float32, each cell's fill value.
        step: s.
    """
    n = skip.shape[0]
    per_cell = (skip[:, None, :, None, :], value[:, None, :, None, :])
    # the half-open z blocks take each cell's flag and value repeated over its s samples
    rows = [np.repeat(a, step, axis=2)[:, None, :, None, :] for a in (skip, value)]
    for upper in _PASSES:
        flags, fill = per_cell if upper[2] else rows
        np.copyto(_cell_view(volume, n, step, upper), fill, where=flags)
        np.copyto(_cell_view(todo, n, step, upper), False, where=flags)


def _corner_range(lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of an (m, m, m) lattice: min and max of its 8 corners, (m-1, m-1, m-1) each."""
    lo = hi = None
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                corner = lattice[a : a + lattice.shape[0] - 1, b : b + lattice.shape[1] - 1][
                    :, :, c : c + lattice.shape[2] - 1
                ]
                lo = corner.copy() if lo is None else np.minimum(lo, corner, out=lo)
                hi = corner.copy() if hi is None else np.maximum(hi, corner, out=hi)
    return lo, hi


def uniform_cells(lo, hi, todo, n: int, step: int, threshold: float):
    """Step 3's test: (n, n, n) bool, the cells whose corners span less than ``threshold`` and
    whose centre sample is still to do. ``lo`` / ``hi``: (n, n, n) corner min / max; ``todo``:
    (R, R, R) bool. NumPy arrays or tensors alike (``torch_octree`` shares it)."""
    half = step // 2
    centre = todo[half : n * step : step, half : n * step : step, half : n * step : step]
    return (hi - lo < threshold) & centre


SLAB_SAMPLES = 1 << 22
"""Lattice samples scanned per block of x-planes when listing the points to evaluate."""


def _evaluate_lattice(
    fn: QueryFn,
    wanted: np.ndarray,
    values: np.ndarray,
    step: int,
    resolution: int,
    chunk: int,
    progress: GridProgress,
) -> int:
    """Evaluate ``fn`` where the (m, m, m) lattice view ``wanted`` is set, write the results to
    the lattice view ``values`` and clear ``wanted`` there. The points are listed a block of
    x-planes at a time (the index lists stay small) and sent in calls of exactly ``chunk``
    points but the last (a block's remainder waits for the next block's points: few call
    sizes, so the matrix libraries keep few kernels). They are one level of ``progress``,
    scheduled before the first call. Returns the number of points evaluated."""
    progress.schedule(int(np.count_nonzero(wanted)))
    m = wanted.shape[0]
    planes = max(1, SLAB_SAMPLES // max(1, wanted.shape[1] * wanted.shape[2]))
    count = 0
    pending: tuple[np.ndarray, ...] | None = None
    for x0 in range(0, m, planes):
        block = wanted[x0 : x0 + planes]
        idx = np.nonzero(block)
        block[idx] = False
        found = (idx[0] + x0, idx[1], idx[2])
        count += found[0].shape[0]
        if pending is not None:
            found = tuple(np.concatenate([a, b]) for a, b in zip(pending, found, strict=True))
        n_full = found[0].shape[0] // chunk * chunk
        for start in range(0, n_full, chunk):
            _query_part(
                fn,
                tuple(a[start : start + chunk] for a in found),
                values,
                step,
                resolution,
                progress,
            )
        pending = tuple(a[n_full:] for a in found)
    if pending is not None and pending[0].shape[0]:
        _query_part(fn, pending, values, step, resolution, progress)
    return count


def _query_part(
    fn: QueryFn,
    lattice: tuple[np.ndarray, ...],
    values: np.ndarray,
    step: int,
    resolution: int,
    progress: GridProgress,
) -> None:
    """Evaluate ``fn`` at the lattice indices (i, j, k) and write ``values`` there."""
    pts = original_points(*(a * step for a in lattice), resolution)
    values[lattice] = fn(pts)
    progress.advance(lattice[0].shape[0])


def evaluate_original_octree(
    fn: QueryFn,
    resolution: int,
    init_resolution: int = INIT_RESOLUTION,
    threshold: float = THRESHOLD,
    chunk: int = DEFAULT_CHUNK,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, int]:
    """Evaluate ``fn`` on the original release's octree (module docstring).

    Args:
        fn: occupancy query, (N, 3) float32 cube-frame points -> (N,) float32.
        resolution: R, samples per axis.
        init_resolution: the first lattice's samples per axis (the original: 64); its step is
            ``max(1, R // init_resolution)`` (the original evaluates nothing when R < 64).
        threshold: cells whose corners span less than this are filled, not refined.
        chunk: the most points passed to ``fn`` in one call.
        progress: optional ``progress(done, scheduled)`` callback
            (:mod:`pifuhd.geometry.progress`): each level's points are scheduled before it is
            evaluated, so the total grows level by level.

    Returns:
        volume: (R, R, R) float32, flipped along y: ``volume[i, j, k]`` is the original's sample
            ``(i, R - 1 - j, k)``, at ``(-1 + 2i/R, -1 + 2(j + 1)/R, -1 + 2k/R)``. It is the
            interior of an (R + 2)^3 buffer of zeros (``volume.base``), which
            ``pifuhd.geometry.marching.extract_mesh`` uses as its padding instead of a copy.
        points_evaluated: the number of points passed to ``fn``.
    """
    if resolution < 2 or chunk < 1 or init_resolution < 1:
        raise ValueError(f"bad octree arguments: R={resolution}, chunk={chunk}")
    padded = np.zeros((resolution + 2,) * 3, dtype=np.float32)
    out = padded[1:-1, 1:-1, 1:-1]
    volume = out[:, ::-1, :]  # the original's index space, written through
    todo = np.zeros((resolution,) * 3, dtype=bool)
    todo[:-1, :-1, :-1] = True
    step = max(1, resolution // init_resolution)
    evaluated = 0
    counts = GridProgress(progress)
    while True:
        lattice = (slice(0, resolution, step),) * 3
        values = volume[lattice]  # views: writing them writes the volume
        evaluated += _evaluate_lattice(fn, todo[lattice], values, step, resolution, chunk, counts)
        if step == 1:
            break
        n = values.shape[0] - 1
        lo, hi = _corner_range(values)
        skip = uniform_cells(lo, hi, todo, n, step, threshold)
        fill_uniform_cells(volume, todo, skip, (lo + hi) * np.float32(0.5), step)
        step //= 2
    return out, evaluated
