"""Marching-cubes tables, built from a rule instead of typed in.

A cell of the grid has 8 corners; corner ``c`` (0-7) sits at the index offset
``(c & 1, (c >> 1) & 1, c >> 2)`` along axes (0, 1, 2). Its *case* is the 8-bit mask of the
corners inside (above the level). Edge ``e`` (0-11) joins corners ``EDGE_CORNERS[e]``, the first
with the edge's axis bit clear; edges 4a .. 4a + 3 run along axis a.

How a case is tiled (the classic construction, Lorensen & Cline 1987, with the face ambiguity
resolved per face as Nielson & Hamann's asymptotic decider does, 1991):

1. On each of the 6 faces the level crosses 0, 2 or 4 edges. Walking the face's corners
   counter-clockwise as seen from outside the cell, a crossing leaves the inside ("exit") or
   enters it ("entry"). Each exit is joined by a segment to an entry on the same face: with 2
   crossings the only one; with 4 (an *ambiguous* face: diagonal corners inside) either the
   next entry (the two inside corners are joined across the face) or the previous one (they are
   separated). Which one is a per-face bit, so the index of a tiling is ``case * 64 + bits``
   with bit f set when face f is ambiguous and its inside corners are joined.
2. An edge is an exit on one of its two faces and an entry on the other, so "exit -> its
   segment's entry" is a permutation of the crossed edges; its cycles are closed polygons.
3. Each polygon is split into triangles by diagonals that never join two vertices on one face
   of the cell (the neighbour sharing that face could draw the same diagonal, and the mesh
   edge would belong to four triangles); about one polygon in nine (116 of 1026, all of 8, 9
   or 12 sides) has no such split and is fanned around an extra vertex at its centre instead,
   as Lewiner et al. (2003) do for some of their cases.

Two cells that share a face see the same corners there, make the same choice (the bit is a
function of the face's four values only) and so the same segments, traversed in opposite
directions: the surface is closed and consistently oriented. Triangles are wound so their
normals point from the inside to the outside.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

CORNER_OFFSETS = np.array([(c & 1, (c >> 1) & 1, c >> 2) for c in range(8)], dtype=np.int64)
"""(8, 3) index offset of each corner of a cell along axes (0, 1, 2)."""

EDGE_CORNERS = np.array(
    [(c, c | 1 << a) for a in range(3) for c in range(8) if not c >> a & 1], dtype=np.int64
)
"""(12, 2) the corners each edge joins; the second is the first plus one step along the axis."""

EDGE_AXIS = np.repeat(np.arange(3, dtype=np.int64), 4)
"""(12,) the axis each edge runs along."""

MAX_TRIANGLES = 12
"""The most triangles one tiling has (a 12-gon around a centre vertex)."""
MAX_CENTRES = 4
"""The most centre vertices one tiling adds (one per loop, at most 4 loops)."""


def _edge_index(c0: int, c1: int) -> int:
    """The edge joining corners c0 and c1 (adjacent, either order)."""
    lo, hi = min(c0, c1), max(c0, c1)
    return int(np.flatnonzero((EDGE_CORNERS[:, 0] == lo) & (EDGE_CORNERS[:, 1] == hi))[0])


def _face_cycle(axis: int, side: int) -> tuple[int, int, int, int]:
    """The 4 corners of face (axis, side) in counter-clockwise order seen from outside."""
    b, c = (a for a in range(3) if a != axis)
    square = ((0, 0), (1, 0), (1, 1), (0, 1))
    corners = [side << axis | ub << b | uc << c for ub, uc in square]
    # the square runs counter-clockwise around e_b x e_c; flip it when that points inward
    normal = np.cross(np.eye(3)[b], np.eye(3)[c])[axis] * (1 if side else -1)
    return tuple(corners if normal > 0 else corners[::-1])


FACE_CORNERS = np.array([_face_cycle(a, s) for a in range(3) for s in (0, 1)], dtype=np.int64)
"""(6, 4) each face's corners, counter-clockwise seen from outside; face 2a + s is the face at
offset s along axis a."""


def ambiguous_faces(case: int) -> int:
    """6-bit mask of the faces of ``case`` whose inside corners are diagonal (4 crossings)."""
    mask = 0
    for f, cycle in enumerate(FACE_CORNERS):
        inside = [case >> int(c) & 1 for c in cycle]
        if inside[0] == inside[2] and inside[1] == inside[3] and inside[0] != inside[1]:
            mask |= 1 << f
    return mask


def _segments(case: int, bits: int) -> dict[int, int]:
    """Exit edge -> entry edge of every face segment of ``case`` with face bits ``bits``."""
    following: dict[int, int] = {}
    for f, cycle in enumerate(FACE_CORNERS):
        inside = [case >> int(c) & 1 for c in cycle]
        exits, entries = [], []
        for i in range(4):
            a, b = inside[i], inside[(i + 1) % 4]
            if a != b:
                edge = _edge_index(int(cycle[i]), int(cycle[(i + 1) % 4]))
                (exits if a else entries).append((i, edge))
        joined = bits >> f & 1
        for i, edge in exits:
            # entries after this exit, walking on counter-clockwise (distance 1 or 3 around)
            ahead = sorted(entries, key=lambda entry, i=i: (entry[0] - i) % 4)
            following[edge] = (ahead[0] if joined else ahead[-1])[1]
    return following


def _edge_faces() -> tuple[frozenset[int], ...]:
    """The two faces each edge lies on."""
    faces: list[set[int]] = [set() for _ in range(12)]
    for f, cycle in enumerate(FACE_CORNERS):
        for i in range(4):
            faces[_edge_index(int(cycle[i]), int(cycle[(i + 1) % 4]))].add(f)
    return tuple(frozenset(f) for f in faces)


EDGE_FACES = _edge_faces()


def loops(case: int, bits: int = 0) -> list[list[int]]:
    """The closed polygons of ``case`` with face bits ``bits``: edge lists, each running
    counter-clockwise seen from the outside of the surface (the inside behind it)."""
    left = _segments(case, bits & ambiguous_faces(case))
    found = []
    while left:
        loop = [min(left)]
        while (edge := left.pop(loop[-1])) != loop[0]:
            loop.append(edge)
        found.append(loop[::-1])  # the segments run clockwise seen from outside
    return found


def _split(loop: list[int]) -> list[tuple[int, int, int]] | None:
    """Triangles (positions in ``loop``, in its order) of a triangulation whose diagonals join
    no two vertices on one face of the cell, or None when there is none.

    Two vertices on one face are on grid edges the neighbouring cell shares; if both cells
    drew that diagonal the mesh edge would belong to four triangles. (Vertices joined by a
    segment are adjacent in the loop, so the loop's own sides never clash.)
    """
    k = len(loop)

    def allowed(i: int, j: int) -> bool:
        return j - i == 1 or (i, j) == (0, k - 1) or not EDGE_FACES[loop[i]] & EDGE_FACES[loop[j]]

    @cache
    def solve(i: int, j: int) -> tuple[tuple[int, int, int], ...] | None:
        if j - i < 2:
            return ()
        for m in range(i + 1, j):
            if allowed(i, m) and allowed(m, j):
                below, above = solve(i, m), solve(m, j)
                if below is not None and above is not None:
                    return (*below, (i, m, j), *above)
        return None

    found = solve(0, k - 1)
    return None if found is None else list(found)


def tiling(case: int, bits: int = 0) -> tuple[list[tuple[int, int, int]], list[list[int]]]:
    """How ``case`` with face bits ``bits`` is tiled.

    Returns:
        triangles: vertex triples wound outward; a vertex is an edge (0-11) or ``12 + n``, the
            n-th extra centre vertex of the cell.
        centres: the loops fanned around an extra vertex (the mean of the loop's vertices),
            because no triangulation of theirs avoids joining two vertices on one face.
    """
    triangles: list[tuple[int, int, int]] = []
    centres: list[list[int]] = []
    for loop in loops(case, bits):
        split = _split(loop)
        if split is not None:
            triangles += [(loop[a], loop[b], loop[c]) for a, b, c in split]
            continue
        centre = 12 + len(centres)
        centres.append(loop)
        triangles += [(centre, loop[i], loop[(i + 1) % len(loop)]) for i in range(len(loop))]
    return triangles, centres


@lru_cache(maxsize=1)
def tiling_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All tilings as arrays, for vectorised lookup; row ``case * 64 + bits`` is ``tiling(case,
    bits)`` (bits on faces that are not ambiguous are ignored).

    Returns:
        triangles: (256 * 64, MAX_TRIANGLES, 3) int8 vertex triples as in :func:`tiling`
            (rows past the count are -1).
        counts: (256 * 64,) int8 triangles per tiling.
        centres: (256 * 64, MAX_CENTRES, 12) bool, the edges of each centre vertex's loop.
        ambiguous: (256,) uint8 the 6-bit mask of each case's ambiguous faces.
    """
    rows = 256 * 64
    triangles = np.full((rows, MAX_TRIANGLES, 3), -1, dtype=np.int8)
    counts = np.zeros(rows, dtype=np.int8)
    centres = np.zeros((rows, MAX_CENTRES, 12), dtype=bool)
    ambiguous = np.array([ambiguous_faces(case) for case in range(256)], dtype=np.uint8)
    for case in range(256):
        cached: dict[int, tuple[list[tuple[int, int, int]], list[list[int]]]] = {}
        for bits in range(64):
            used = bits & int(ambiguous[case])
            if used not in cached:
                cached[used] = tiling(case, used)
            tris, loops_ = cached[used]
            row = case * 64 + bits
            counts[row] = len(tris)
            if tris:
                triangles[row, : len(tris)] = tris
            for n, loop in enumerate(loops_):
                centres[row, n, loop] = True
    return triangles, counts, centres, ambiguous


__all__ = [
    "CORNER_OFFSETS",
    "EDGE_AXIS",
    "EDGE_CORNERS",
    "FACE_CORNERS",
    "MAX_CENTRES",
    "MAX_TRIANGLES",
    "ambiguous_faces",
    "loops",
    "tiling",
    "tiling_tables",
]
