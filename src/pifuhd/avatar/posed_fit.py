"""Posed-space agreement with the photo: the posed avatar drawn onto the photo's surface.

The learned canonical model (``pifuhd.avatar.learned``) gives the person's rest-pose shape; posed
by the fitted body, it inherits every error of the fitted pose (an arm a few degrees off lands
centimetres away from where the photo shows it). CAR (Liao et al., CVPR 2023, Sec. 3.3) corrects
this in posed space against the image's evidence (silhouette and normals). Here the evidence is
the reconstruction's own surface (PIFuHD's occupancy from the image and its predicted normal
maps, body-guided): each posed vertex within ``REACH`` of it moves toward its nearest point there,
fully up to ``REACH / 2`` and fading to nothing at ``REACH``, and the displacements are smoothed
over the mesh (``SMOOTHING`` rounds of neighbour averaging) so that the surface moves as a
sheet. Vertices farther away (parts the photo's surface lacks or has wrong) keep the canonical
model's shape. Each moved vertex is taken back to the rest pose through its own blended bone
transform, so the rig is kept (``attract_rigged``).

Frames: the crop's cube for the posed surfaces; ``REACH`` in cube units.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import trimesh
from scipy.spatial import cKDTree

from pifuhd.avatar.rigging import RiggedMesh
from pifuhd.body.skinned import unskin

REACH = 0.04
"""Cube units (about 3 cm): farther vertices are left where the canonical model put them."""
SMOOTHING = 5
SURFACE_SAMPLES = 200_000


def neighbour_average(faces: np.ndarray, count: int) -> sp.csr_matrix:
    """(V, V) sparse: each row averages the vertex and its mesh neighbours."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1], np.repeat(np.arange(count)[:, None], 2, 1)])
    adjacency = sp.csr_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(count, count)
    )
    adjacency.data[:] = 1.0  # duplicates summed by the constructor count once
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return sp.diags(1.0 / degree) @ adjacency


def attraction(
    vertices: np.ndarray,
    faces: np.ndarray,
    surface: trimesh.Trimesh,
    reach: float = REACH,
    smoothing: int = SMOOTHING,
) -> np.ndarray:
    """(V, 3) displacements taking ``vertices`` toward ``surface`` (module docstring)."""
    samples, _ = trimesh.sample.sample_surface(surface, SURFACE_SAMPLES, seed=0)
    points = np.concatenate([np.asarray(surface.vertices), samples])
    dist, idx = cKDTree(points).query(vertices)
    offset = points[idx] - vertices
    weight = np.clip(2.0 - 2.0 * dist / reach, 0.0, 1.0)
    moves = offset * weight[:, None]
    average = neighbour_average(np.asarray(faces), len(vertices))
    for _ in range(smoothing):
        moves = average @ moves
    return moves


def attract_rigged(
    rigged: RiggedMesh, surface_cube: trimesh.Trimesh, reach: float = REACH
) -> RiggedMesh:
    """A rigged avatar's posed surface drawn toward the photo's surface (cube frame), the rest
    pose following through each vertex's blended bone transform."""
    cube = rigged.placement.to_cube(rigged.posed)
    moved = cube + attraction(cube, rigged.faces, surface_cube, reach)
    posed = rigged.placement.to_subject(moved)
    rest = unskin(posed, rigged.weights, rigged.body.transforms)
    return replace(rigged, rest=rest, posed=posed)
