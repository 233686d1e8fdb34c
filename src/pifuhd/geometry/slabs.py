"""Marching cubes in one or several processes: scikit-image's Lewiner marching cubes, and
the same surface from slabs of the volume along axis 0, all but the first marched in forked
processes.

Frames: a surface is in the volume's fractional sample indices (axis 0 first); see
:mod:`pifuhd.geometry.marching` for the cube frame.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import warnings

import numpy as np
from skimage.measure import marching_cubes

log = logging.getLogger(__name__)

SLAB_MIN_PLANES = 128
"""Volumes with fewer planes along axis 0 run marching cubes in one process (a fork and the
join cost more than they save there)."""
SLAB_MIN_THICKNESS = 32
"""Planes per slab at least: a volume of X planes is cut into at most X // 32 slabs."""
MAX_WORKERS = 8
"""Processes marching cubes uses by default, at most."""

Surface = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Marching cubes' output in fractional volume indices: vertices (V, 3) float32, faces (F, 3)
int64 wound outward, unit normals (V, 3) float32 (zero where the gradient is)."""


def march(volume: np.ndarray, level: float, workers: int | None = None) -> Surface:
    """scikit-image's Lewiner marching cubes of ``volume`` at ``level`` (inside is above it).

    With ``workers`` >= 2, on Linux and for volumes of at least ``SLAB_MIN_PLANES`` planes
    along axis 0, the volume is cut into that many slabs along axis 0 (at most one per
    ``SLAB_MIN_THICKNESS`` planes); this process marches the first and a forked child each of
    the others (scikit-image's loop holds the GIL, so threads cannot share it): about 1/n of
    the wall time. The joined surface is the one-process surface with the vertices numbered
    differently (see :func:`join_slabs`); when a join is ambiguous (vertices exactly on a cell
    corner), a child fails or no process can be forked, the volume is marched in this process.

    Args:
        volume: (X, Y, Z) float32, C-contiguous; samples equal to ``level`` count as outside
            only after :func:`break_ties`.
        level: the iso-level.
        workers: processes to use; None: the CPUs this process may use, at most
            ``MAX_WORKERS``.

    Returns:
        The surface (empty arrays when no sample is above ``level`` or none below).
    """
    volume = np.ascontiguousarray(volume, dtype=np.float32)
    if workers is None:
        workers = default_workers()
    count = min(workers, volume.shape[0] // SLAB_MIN_THICKNESS)
    forkable = sys.platform.startswith("linux") and hasattr(os, "fork")
    if count < 2 or not forkable or volume.shape[0] < SLAB_MIN_PLANES:
        return lewiner(volume, level)
    splits = [round(k * volume.shape[0] / count) for k in range(1, count)]
    ends = [*(split + 1 for split in splits[1:]), volume.shape[0]]
    children: list[_Forked] = []
    try:
        try:
            for split, end in zip(splits, ends, strict=True):
                children.append(_Forked(upper_slab, volume[split - 1 : end], level))
        except OSError as exc:  # no process or pipe to spare (e.g. strict memory overcommit)
            log.warning("marching cubes in one process: cannot fork (%s)", exc)
            for child in children:  # stopped before this process marches everything
                child.close()
            children = []
            return lewiner(volume, level)
        surface = lewiner(volume[: splits[0] + 1], level)
        parts = [child.result() for child in children]
    finally:
        for child in children:
            child.close()
    if any(part is None for part in parts):
        return lewiner(volume, level)
    try:
        for split, part in zip(splits, parts, strict=True):
            surface = join_slabs(surface, (part[0], part[1], part[2]), split)
    except AmbiguousJoinError as exc:
        log.debug("marching cubes in one process: %s", exc)
        return lewiner(volume, level)
    return surface


def default_workers() -> int:
    """The CPUs this process may use, at most ``MAX_WORKERS``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cpus or 1))


def lewiner(volume: np.ndarray, level: float) -> Surface:
    """scikit-image's Lewiner marching cubes in one call ('ascent': faces wound outward for a
    field that is high inside); empty arrays when ``level`` is not crossed."""
    if not (float(volume.max()) > level and float(volume.min()) <= level):
        return empty_surface()
    verts, faces, normals, _ = marching_cubes(
        volume, level=level, gradient_direction="ascent", method="lewiner"
    )
    return np.ascontiguousarray(verts), faces.astype(np.int64), np.ascontiguousarray(normals)


def empty_surface() -> Surface:
    """A surface with no vertices and no faces."""
    return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32)


class AmbiguousJoinError(ValueError):
    """Two slabs' surfaces cannot be joined by vertex positions (a vertex on a cell corner)."""


def upper_slab(volume: np.ndarray, level: float) -> Surface:
    """The surface of an upper slab that starts one plane below the split plane: the faces of
    its cells above plane 1 (the lower slab has the others) and the vertices they use.

    Keeping cell layer 0 in the march gives the vertices on plane 1 (the seam) their complete
    normals: scikit-image sums every cell's gradient into the vertices it uses, and layer 0
    holds the lower slab's cells next to the seam.

    Raises:
        AmbiguousJoinError: a face whose three vertices lie on plane 1 (its cell is unknown).
    """
    verts, faces, normals = lewiner(volume, level)
    depth = verts[:, 0].astype(np.float64)  # 3 x the centroid's axis-0 index: exact
    total = depth[faces[:, 0]]
    total += depth[faces[:, 1]]
    total += depth[faces[:, 2]]
    if np.any(total == 3.0):
        raise AmbiguousJoinError("a face lies on the seam plane")
    faces = _rows(faces, total > 3.0)
    del total, depth
    used = np.zeros(len(verts), dtype=bool)
    used[faces.reshape(-1)] = True
    number = np.cumsum(used, dtype=np.int32)
    number -= 1
    return _rows(verts, used), number[faces], _rows(normals, used)


def _rows(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``array[mask]`` for a C-contiguous (n, k) array, each row moved as one element."""
    array = np.ascontiguousarray(array)
    whole = array.view(np.dtype((np.void, array.dtype.itemsize * array.shape[1])))[:, 0]
    return whole[mask].view(array.dtype).reshape(-1, array.shape[1])


def join_slabs(lower: Surface, upper: Surface, split: int) -> Surface:
    """Join the surfaces of ``volume[:split + 1]`` and ``upper_slab(volume[split - 1:])``.

    Both slabs make the vertices on the seam plane (axis-0 index ``split``) from the same two
    samples by the same arithmetic, so they are matched by their exact (y, z) positions; the
    upper slab's normals there are the complete ones. Upper vertices follow the lower ones.

    Raises:
        AmbiguousJoinError: seam vertices that do not match one to one.
    """
    low_v, low_f, low_n = lower
    up_v, up_f, up_n = upper
    seam_up = np.flatnonzero(up_v[:, 0] == 1.0)
    seam_low = np.flatnonzero(low_v[:, 0] == np.float32(split))
    keys_low = _plane_keys(low_v[seam_low])
    order = np.argsort(keys_low, kind="stable")
    sorted_keys = keys_low[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):
        raise AmbiguousJoinError("two lower seam vertices at one position")
    keys_up = _plane_keys(up_v[seam_up])
    at = np.searchsorted(sorted_keys, keys_up)
    at[at == len(sorted_keys)] = 0
    if len(seam_up) and (len(sorted_keys) == 0 or np.any(sorted_keys[at] != keys_up)):
        raise AmbiguousJoinError("an upper seam vertex has no lower twin")
    twin = seam_low[order[at]]
    low_n[twin] = up_n[seam_up]  # (lower's arrays are the caller's to give up)
    rest = np.ones(len(up_v), dtype=bool)
    rest[seam_up] = False
    number = np.empty(len(up_v), dtype=np.int64)
    number[seam_up] = twin
    n_low, n_rest = len(low_v), len(up_v) - len(seam_up)
    number[rest] = np.arange(n_low, n_low + n_rest)
    vertices = np.empty((n_low + n_rest, 3), dtype=np.float32)
    vertices[:n_low] = low_v
    vertices[n_low:] = _rows(up_v, rest)
    vertices[n_low:, 0] += np.float32(split - 1)  # float32 sums are rounded once: exact
    normals = np.empty_like(vertices)
    normals[:n_low] = low_n
    normals[n_low:] = _rows(up_n, rest)
    faces = np.empty((len(low_f) + len(up_f), 3), dtype=np.int64)
    faces[: len(low_f)] = low_f
    top = faces[len(low_f) :]
    n_seam = len(seam_up)
    if n_seam == 0 or seam_up[-1] == n_seam - 1:
        # the seam vertices come first (the march makes them in cell layer 0): the others
        # are renumbered by a shift, and only the corners on the seam are looked up
        np.add(up_f, n_low - n_seam, out=top, dtype=np.int64)
        on_seam = up_f < n_seam
        top[on_seam] = twin[up_f[on_seam]]
    else:
        np.take(number, up_f, out=top)
    return vertices, faces, normals


def _plane_keys(verts: np.ndarray) -> np.ndarray:
    """(n, 3) float32 -> (n,) uint64 keys of the exact (axis 1, axis 2) positions."""
    bits = np.ascontiguousarray(verts[:, 1:]).view(np.uint32).astype(np.uint64)
    return (bits[:, 0] << np.uint64(32)) | bits[:, 1]


class _Forked:
    """``fn(*args)`` (returning a tuple of arrays) in a forked child; ``result()`` is the
    arrays, or None when the child could not give them (logged). Linux only."""

    def __init__(self, fn, *args) -> None:
        read, write = os.pipe()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns on fork in a process with threads (torch's pool): the
                # child runs only scikit-image's loop and numpy on its slab, writes to the pipe
                # and leaves by os._exit, so it takes no lock another thread may hold.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the child
            code = 1
            try:
                os.close(read)
                code = _send(write, fn, args)
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.read, self.done = pid, read, False

    def result(self) -> tuple[np.ndarray, ...] | None:
        try:
            with os.fdopen(os.dup(self.read), "rb") as pipe:
                size = int.from_bytes(_read_exact(pipe, 8), "little")
                meta = json.loads(_read_exact(pipe, size))
                if "error" in meta:
                    level = logging.DEBUG if meta.get("ambiguous") else logging.WARNING
                    log.log(level, "marching cubes in one process: %s", meta["error"])
                    return None
                arrays = []
                for dtype, shape in meta["arrays"]:
                    array = np.empty(shape, dtype=dtype)
                    _read_into(pipe, array)
                    arrays.append(array)
        except (OSError, EOFError, ValueError) as exc:  # the child died (e.g. out of memory)
            log.warning("marching cubes' second process failed (%s); marching in one", exc)
            return None
        self.done = True
        return tuple(arrays)

    def close(self) -> None:
        """Reap the child; killed first unless it has sent its result."""
        os.close(self.read)
        if not self.done:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already
                os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def _send(fd: int, fn, args) -> int:
    """In the child: run ``fn`` and write its arrays (or its error) to ``fd``; exit code."""
    try:
        arrays = [np.ascontiguousarray(a) for a in fn(*args)]
        meta: dict = {"arrays": [(a.dtype.str, list(a.shape)) for a in arrays]}
        code = 0
    except Exception as exc:  # reported to the parent, which marches in one process
        arrays, code = [], 1
        meta = {
            "error": f"{type(exc).__name__}: {exc}",
            "ambiguous": isinstance(exc, AmbiguousJoinError),
        }
    head = json.dumps(meta).encode()
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(len(head).to_bytes(8, "little") + head)
        for array in arrays:
            pipe.write(memoryview(array.reshape(-1)).cast("B"))
    return code


def _read_exact(pipe, n: int) -> bytes:
    data = pipe.read(n)
    if len(data) != n:
        raise EOFError("the pipe closed early")
    return data


def _read_into(pipe, array: np.ndarray) -> None:
    view = memoryview(array.reshape(-1)).cast("B")
    done = 0
    while done < len(view):
        got = pipe.readinto(view[done:])
        if not got:
            raise EOFError("the pipe closed early")
        done += got
