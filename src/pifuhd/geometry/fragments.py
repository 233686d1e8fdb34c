"""Dropping floating fragments: mesh pieces that are small and not attached to the person.

A piece (a connected set of faces) is kept when it is the largest, or has at least ``share`` of
the largest piece's faces, or comes within ``gap`` (cube units) of the largest piece: a hand
whose thin wrist the grid missed stays, a blob from the background floating away from the
person goes. Every piece is closed, so what is kept stays closed.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree


def face_pieces(faces: np.ndarray, vertex_count: int) -> np.ndarray:
    """(F,) int piece label of each face (faces sharing a vertex share a label)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = np.asarray(faces, dtype=np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(vertex_count, vertex_count))
    _, vertex_label = connected_components(graph, directed=False)
    return vertex_label[f[:, 0]]


def kept_pieces(vertices: np.ndarray, faces: np.ndarray, share: float, gap: float) -> np.ndarray:
    """(F,) bool: the faces of the pieces kept by the module's rule."""
    labels = face_pieces(faces, len(vertices))
    counts = np.bincount(labels)
    main = int(np.argmax(counts))
    keep_label = counts >= share * counts[main]
    keep_label[main] = True
    undecided = np.nonzero(~keep_label & (counts > 0))[0]
    if len(undecided):
        tree = cKDTree(vertices[np.unique(faces[labels == main])])
        for label in undecided:
            points = vertices[np.unique(faces[labels == label])]
            distance, _ = tree.query(points, k=1, distance_upper_bound=gap)
            keep_label[label] = bool(np.isfinite(distance).any())
    return keep_label[labels]


def drop_fragments(mesh: trimesh.Trimesh, share: float, gap: float) -> tuple[trimesh.Trimesh, int]:
    """The mesh without its floating fragments, and how many pieces were dropped.

    ``share`` 0 keeps every piece (each has at least none of the largest's faces): the mesh
    comes back untouched without labelling its pieces, which on a foam-like field of millions
    of faces cost seconds and hundreds of megabytes.
    """
    faces = np.asarray(mesh.faces)
    if len(faces) == 0 or share <= 0.0:
        return mesh, 0
    vertices = np.asarray(mesh.vertices)
    keep = kept_pieces(vertices, faces, share, gap)
    if keep.all():
        return mesh, 0
    labels = face_pieces(faces, len(vertices))
    dropped = len(np.unique(labels[~keep]))
    used = np.unique(faces[keep])
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    kept = trimesh.Trimesh(
        vertices=vertices[used],
        faces=remap[faces[keep]],
        vertex_normals=np.asarray(mesh.vertex_normals)[used],
        process=False,
    )
    return kept, dropped
