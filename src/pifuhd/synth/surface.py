"""Triangle-mesh helpers for synthetic garments: clipping by a scalar field, grids, solids.

Vertices created by clipping are recorded as :class:`Lerp` records, ``(1 - t) x[a] + t x[b]``
of the source mesh's vertices, so any per-vertex quantity (positions, normals, uv, skinning
weights) carries over to the clipped mesh exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Piece:
    """One textured, skinned surface of a synthetic person (the skin, a garment, hair).

    Attributes:
        name: what it is ("skin", "t-shirt", "hair cap", ...); kind: "skin", "cloth" or "hair".
        vertices: (N, 3) float64 posed positions (cm); rest_vertices: (N, 3) rest positions,
            with ``skin(rest_vertices, weights, transforms) == vertices``.
        faces: (F, 3) int64; uv: (N, 2) float64 in [0, 1], the piece's own texture layout.
        weights: (N, J) float64 skinning weights, rows sum to 1.
        albedo: colour function (rest points (M, 3), piece face ids (M,)) -> (M, 3) sRGB.
        info: JSON-ready description.
    """

    name: str
    kind: str
    vertices: np.ndarray
    rest_vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    weights: np.ndarray
    albedo: Callable[[np.ndarray, np.ndarray], np.ndarray]
    info: dict = field(default_factory=dict)


@dataclass
class Lerp:
    """Vertices of a derived mesh as blends of source vertices: ``(1 - t) x[a] + t x[b]``.

    Attributes: a, b: (K,) int64 source vertex indices; t: (K,) float64 in [0, 1].
    """

    a: np.ndarray
    b: np.ndarray
    t: np.ndarray

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(K, ...) blends of ``values`` (N, ...) given per source vertex."""
        t = self.t.reshape((-1,) + (1,) * (values.ndim - 1))
        return (1.0 - t) * values[self.a] + t * values[self.b]


def clip_by_field(faces: np.ndarray, field: np.ndarray) -> tuple[Lerp, np.ndarray]:
    """The part of a triangle mesh where ``field <= 0``, cut exactly along ``field = 0``.

    The field is taken as linear along each edge; faces crossing the zero level are split,
    and the new vertices are shared by the faces on both sides of their edge.

    Args:
        faces: (F, 3) int vertex indices; field: (N,) float per vertex.
    Returns:
        lerp: the kept and created vertices as blends of the source vertices.
        new_faces: (F', 3) int64 indices into ``lerp``'s vertices, orientation preserved.
    """
    n = len(field)
    inside = field <= 0.0
    count = inside[faces].sum(axis=1)
    whole = faces[count == 3]
    cut = (count == 1) | (count == 2)
    part, c = faces[cut], count[cut]
    ins = inside[part]
    odd = np.where((c == 1)[:, None], ins, ~ins)
    roll = (odd.argmax(axis=1)[:, None] + np.arange(3)) % 3
    o, p, q = np.take_along_axis(part, roll, axis=1).T
    edges = np.concatenate([np.stack([o, p], 1), np.stack([q, o], 1)])
    keys, inverse = np.unique(np.sort(edges, axis=1), axis=0, return_inverse=True)
    e_op, e_qo = np.split(n + inverse.reshape(-1), 2)
    one = c == 1
    tris = [
        whole,
        np.stack([o, e_op, e_qo], 1)[one],
        np.stack([p, q, e_qo], 1)[~one],
        np.stack([p, e_qo, e_op], 1)[~one],
    ]
    all_faces = np.concatenate(tris).astype(np.int64)
    s_lo, s_hi = field[keys[:, 0]], field[keys[:, 1]]
    t_edge = s_lo / (s_lo - s_hi)
    a = np.concatenate([np.arange(n), keys[:, 0]])
    b = np.concatenate([np.arange(n), keys[:, 1]])
    t = np.concatenate([np.zeros(n), t_edge])
    used, new_faces = np.unique(all_faces, return_inverse=True)
    return Lerp(a[used], b[used], t[used]), new_faces.reshape(-1, 3)


def weld_ids(lerp: Lerp, weld: np.ndarray) -> np.ndarray:
    """(K,) ids of the geometric points of ``lerp``'s vertices: vertices blended from seam
    copies (same ``weld`` (N,) ids, same ratio) share an id, so they can move together."""
    a, b, t = weld[lerp.a], weld[lerp.b], lerp.t
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    t = np.where(swap, 1.0 - t, t)
    t = np.where(lo == hi, 0.0, t)
    keys = np.stack([lo, hi, np.round(t * 1e6)], axis=1)
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)


def smooth_outside(
    points: np.ndarray,
    base: np.ndarray,
    normals: np.ndarray,
    faces: np.ndarray,
    ids: np.ndarray,
    iterations: int,
    min_offset: np.ndarray,
    along_normals: bool = False,
) -> np.ndarray:
    """Laplacian smoothing of an offset surface that keeps it outside what it covers.

    Args:
        points: (K, 3) offset positions; base: (K, 3) the surface points they come from;
        normals: (K, 3) unit normals there; faces: (F, 3); ids: (K,) geometric ids (see
        :func:`weld_ids`), equal ids move together; min_offset: (K,) the least distance
        (cm) kept along the normal after each round; along_normals: move points only along
        their normals (fills creases, never slides over the surface).
    Returns:
        (K, 3) smoothed positions.
    """
    if iterations <= 0:
        return points
    n_ids = int(ids.max()) + 1
    wf = ids[faces]
    all_edges = np.sort(np.concatenate([wf[:, [0, 1]], wf[:, [1, 2]], wf[:, [2, 0]]]), 1)
    edges, uses = np.unique(all_edges, axis=0, return_counts=True)
    keep = edges[:, 0] != edges[:, 1]
    edges, uses = edges[keep], uses[keep]
    on_rim = np.zeros(n_ids, bool)
    on_rim[edges[uses == 1].ravel()] = True
    # rim points average with their rim neighbours only (hems stay smooth curves), inner
    # points with all their neighbours
    sources, targets = [], []
    for i, j in ((0, 1), (1, 0)):
        ok = ~on_rim[edges[:, i]] | (uses == 1)
        sources.append(edges[ok, j])
        targets.append(edges[ok, i])
    src, dst = np.concatenate(sources), np.concatenate(targets)
    count = np.bincount(dst, minlength=n_ids).astype(np.float64)
    first = np.zeros(n_ids, np.int64)
    first[ids] = np.arange(len(ids))
    p, b, n, m = points[first], base[first], normals[first], min_offset[first]
    for _ in range(iterations):
        acc = np.zeros_like(p)
        np.add.at(acc, dst, p[src])
        mean = np.where(count[:, None] > 0, acc / np.maximum(count, 1.0)[:, None], p)
        step = 0.5 * (mean - p)
        if along_normals:
            step = np.einsum("ij,ij->i", step, n)[:, None] * n
        p = p + step
        short = m - np.einsum("ij,ij->i", p - b, n)
        p = p + np.clip(short, 0.0, None)[:, None] * n
    return p[ids]


def rim_edges(faces: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(E, 2) the boundary edges of a mesh, each as ordered in its face (``faces`` (F, 3));
    vertices with equal ``ids`` (K,) are one point, so uv seams are not boundaries."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    welded = np.sort(ids[edges], axis=1)
    _, inverse, count = np.unique(welded, axis=0, return_inverse=True, return_counts=True)
    once = count[inverse.reshape(-1)] == 1
    return edges[once & (welded[:, 0] != welded[:, 1])]


def lip_faces(faces: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A band folding an open surface's rims inward: each rim vertex gets a twin, and each
    rim edge a quad to the twins (oriented like the surface, so an offset shell closes onto
    what it covers when the twins sit there).

    Args:
        faces: (F, 3) of K vertices; ids: (K,) geometric ids (see :func:`weld_ids`).
    Returns:
        rim: (R,) vertex ids that get twins; the twin of ``rim[i]`` is vertex ``K + i``;
        faces: (F + 2 E, 3) the surface's faces and the band's.
    """
    edges = rim_edges(faces, ids)
    rim, inverse = np.unique(edges, return_inverse=True)
    twins = len(ids) + inverse.reshape(-1, 2)
    a, b = edges.T
    ta, tb = twins.T
    band = np.concatenate([np.stack([b, a, ta], 1), np.stack([b, ta, tb], 1)])
    return rim, np.concatenate([faces, band]).astype(np.int64)


def push_to_hull(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Move each point (N, 3) along its unit direction (N, 3) onto the boundary of the convex
    hull of all the points: a convex envelope (shoes bridging toes and arches)."""
    from scipy.spatial import ConvexHull

    planes = ConvexHull(points).equations  # (H, 4): a . x + b <= 0 inside, |a| = 1
    facing = directions @ planes[:, :3].T  # (N, H)
    depth = -(points @ planes[:, :3].T + planes[:, 3])  # >= 0 inside
    steps = np.where(facing > 1e-9, depth / np.maximum(facing, 1e-9), np.inf)
    step = np.clip(steps.min(axis=1), 0.0, None)
    return points + np.where(np.isfinite(step), step, 0.0)[:, None] * directions


def radial_hull(points: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(N,) distance from the origin, along each direction (sin a, cos a) of the xz plane, to
    a convex polygon enclosing ``points`` (M, 2) (x, z): the tightest one whose edges are
    normal to the ``angles`` directions."""
    dirs = np.stack([np.sin(angles), np.cos(angles)], axis=1)
    support = (points @ dirs.T).max(axis=0)  # (N,)
    cos = dirs @ dirs.T  # (N_support, N_query)
    ratio = np.where(cos > 0.15, support[:, None] / np.maximum(cos, 0.15), np.inf)
    return np.maximum(ratio.min(axis=0), 1.0)


def compact(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(used vertex ids (K,), faces re-indexed into them (F, 3)) dropping unreferenced vertices."""
    used, inverse = np.unique(faces, return_inverse=True)
    return used, inverse.reshape(faces.shape).astype(np.int64)


def face_components(faces: np.ndarray) -> np.ndarray:
    """(F,) component label of each face (faces sharing a vertex are connected)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_faces, n_verts = len(faces), int(faces.max()) + 1 if len(faces) else 0
    rows = np.repeat(np.arange(n_faces), 3)
    incidence = coo_matrix((np.ones(3 * n_faces), (rows, faces.ravel())), (n_faces, n_verts))
    graph = (incidence @ incidence.T).tocsr()
    return connected_components(graph, directed=False)[1]


def drop_small_components(
    vertices: np.ndarray, faces: np.ndarray, min_fraction: float = 0.02
) -> np.ndarray:
    """(F,) bool: faces of the components holding at least ``min_fraction`` of the area."""
    if len(faces) == 0:
        return np.zeros(0, bool)
    labels = face_components(faces)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    per_label = np.bincount(labels, weights=area)
    return per_label[labels] >= min_fraction * area.sum()


def grid_faces(rows: int, cols: int, offset: int = 0) -> np.ndarray:
    """(2 (rows-1)(cols-1), 3) triangles of a rows x cols vertex grid (row-major ids).

    Counter-clockwise seen from the side where rows run down and columns run left to right:
    the normals point toward that side (outward for a tube whose columns go from +z to +x).
    """
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    i00 = (r * cols + c).ravel() + offset
    i01, i10 = i00 + 1, i00 + cols
    i11 = i10 + 1
    return np.concatenate([np.stack([i00, i10, i11], 1), np.stack([i00, i11, i01], 1)])


def closed_tube(rings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed surface through K rings of N points, capped at both ends.

    Args:
        rings: (K, N, 3) points; rings run from top to bottom, each counter-clockwise seen
            from above (+y) for outward normals.
    Returns:
        vertices (K (N+1) + 2, 3), faces, uv (., 2): u around (the seam column duplicated),
        v = 1 at the top ring and 0 at the bottom one; the caps' centres sit at the rings'
        centroids (uv of the nearest ring's middle).
    """
    k, n = rings.shape[:2]
    grid = np.concatenate([rings, rings[:, :1]], axis=1)  # (K, N+1, 3) with the seam column
    u, v = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(1, 0, k))
    verts = [grid.reshape(-1, 3), rings[0].mean(0)[None], rings[-1].mean(0)[None]]
    uv = [np.stack([u.ravel(), v.ravel()], 1), [[0.5, 1.0]], [[0.5, 0.0]]]
    top, bottom = k * (n + 1), k * (n + 1) + 1
    j = np.arange(n)
    last = (k - 1) * (n + 1)
    caps = [
        np.stack([np.full(n, top), j, j + 1], 1),
        np.stack([np.full(n, bottom), last + j + 1, last + j], 1),
    ]
    faces = np.concatenate([grid_faces(k, n + 1), *caps])
    return np.concatenate(verts), faces.astype(np.int64), np.concatenate(uv)


def thick_sheet(outer: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed slab between two (K, N, 3) grids (rows top to bottom, outer seen from outside
    with columns running left to right), with its four rims stitched.

    Returns:
        vertices (2 K N, 3), faces, uv (2 K N, 2): u across the columns, v = 1 at the top.
    """
    k, n = outer.shape[:2]
    base = np.arange(k * n).reshape(k, n)
    shift = k * n
    faces = [grid_faces(k, n), grid_faces(k, n, shift)[:, ::-1]]
    for ring in (base[0], base[:, -1], base[-1, ::-1], base[::-1, 0]):
        a, b = ring[:-1], ring[1:]
        faces.append(np.stack([a, b, b + shift], 1))
        faces.append(np.stack([a, b + shift, a + shift], 1))
    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(1, 0, k))
    uv = np.stack([u.ravel(), v.ravel()], 1)
    verts = np.concatenate([outer.reshape(-1, 3), inner.reshape(-1, 3)])
    return verts, np.concatenate(faces).astype(np.int64), np.concatenate([uv, uv])


def ellipsoid(rows: int = 12, cols: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A unit sphere as a capped tube (poles at y = +-1, outward normals), see ``closed_tube``."""
    lat = np.linspace(0.5 * np.pi, -0.5 * np.pi, rows + 2)[1:-1]
    lon = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    ring = np.stack(
        [
            np.cos(lat)[:, None] * np.sin(lon)[None],
            np.broadcast_to(np.sin(lat)[:, None], (rows, cols)),
            np.cos(lat)[:, None] * np.cos(lon)[None],
        ],
        axis=-1,
    )
    verts, faces, uv = closed_tube(ring)
    verts[-2], verts[-1] = [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]
    return verts, faces, uv
