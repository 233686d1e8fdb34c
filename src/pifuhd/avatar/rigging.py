"""Rig a reconstructed mesh with the body fitted to the same photo, and take it to rest pose.

Frames: the reconstruction and ``BodyFit.vertices`` are in the crop's cube (``pifuhd.geometry``:
x right, y up, z towards the camera, the crop square spanning [-1, 1]); the fitted body as
Anny poses it (:func:`pifuhd.body.anny.anny_body`) is in the synthetic-person frame
(centimetres, y up, standing on y = 0). The two differ by a scale and a translation only (the
fit's root rotation is part of the pose), estimated here from the body's own vertices.

Skinning weights of a surface point are those of the nearest posed body vertex, smoothed over
the mesh (CAR, Liao et al. CVPR 2023, Sec. 3.2: "weights of the nearest body vertex"); the
rest-pose mesh follows by inverting each vertex's blended transform. Where clothing lies far
from the body (long skirts, coats) or limbs touch the body, such weights are a guess: the
canonical implicit model of CAR is what removes that guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from pifuhd.avatar.rig import GLTF_INFLUENCES, dense_influences, top_influences
from pifuhd.body.skinned import Body, skin, unskin
from pifuhd.errors import PifuhdError

SIMILARITY_TOL_CM = 0.5
"""Largest allowed misfit of the cube <-> subject scale-and-shift (the fit's mesh is Anny's
exact mesh, so it is about 1e-4 cm: more means the fit and the body disagree)."""
SMOOTH_ITERATIONS = 10
"""Rounds of neighbour averaging of the transferred weights."""


@dataclass(frozen=True)
class CubePlacement:
    """cube = scale * subject + offset (subject in cm)."""

    scale: float
    offset: np.ndarray

    def to_subject(self, cube_points: np.ndarray) -> np.ndarray:
        """(N, 3) cube -> (N, 3) subject cm."""
        return (np.asarray(cube_points, np.float64) - self.offset) / self.scale

    def to_cube(self, subject_points: np.ndarray) -> np.ndarray:
        """(N, 3) subject cm -> (N, 3) cube."""
        return self.scale * np.asarray(subject_points, np.float64) + self.offset


def cube_placement(body: Body, fit_vertices: np.ndarray) -> CubePlacement:
    """The scale and shift taking ``body`` (Anny's posing of a fit) onto the fit's cube mesh.

    Args:
        body: ``anny_body(fit.shape, fit.anny_pose_deltas)``; fit_vertices: (V0, 3)
            ``BodyFit.vertices`` on Anny's unsplit mesh (``body.weld`` indexes it).
    Raises:
        PifuhdError: when no scale and shift match them (a different body).
    """
    src = body.vertices
    dst = np.asarray(fit_vertices, np.float64)[body.weld]
    src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
    scale = float((src_c * dst_c).sum() / (src_c * src_c).sum())
    offset = dst.mean(0) - scale * src.mean(0)
    misfit = float(np.abs(scale * src + offset - dst).max() / scale)
    if misfit > SIMILARITY_TOL_CM:
        raise PifuhdError(f"the fitted body does not match its own mesh ({misfit:.2f} cm apart)")
    return CubePlacement(scale, offset)


def vertex_adjacency(n_vertices: int, faces: np.ndarray) -> sp.csr_matrix:
    """(V, V) row-normalised adjacency of a triangle mesh (isolated vertices: themselves)."""
    f = np.asarray(faces, np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_vertices, n_vertices))
    adj = adj.tocsr()
    adj.data[:] = 1.0
    adj = adj + sp.diags((np.asarray(adj.sum(axis=1)).ravel() == 0).astype(np.float64))
    return sp.diags(1.0 / np.asarray(adj.sum(axis=1)).ravel()) @ adj


def transfer_weights(
    points: np.ndarray,
    faces: np.ndarray,
    body: Body,
    iterations: int = SMOOTH_ITERATIONS,
) -> np.ndarray:
    """Skinning weights for a mesh around a posed body (both in the subject frame, cm).

    Args:
        points: (N, 3) mesh vertices; faces: (F, 3) its triangles (for the smoothing).
        body: the posed body. iterations: rounds of ``w <- (w + mean of neighbours) / 2``.
    Returns:
        (N, J) weights with at most four bones per vertex, rows summing to 1.
    """
    _, nearest = cKDTree(body.vertices).query(np.asarray(points, np.float64))
    weights = body.weights[nearest]
    adjacency = vertex_adjacency(len(points), faces)
    for _ in range(iterations):
        weights = 0.5 * (weights + adjacency @ weights)
    joints, values = top_influences(weights, GLTF_INFLUENCES)
    return dense_influences(joints, values, weights.shape[1])


@dataclass
class RiggedMesh:
    """A reconstructed mesh bound to its fitted body (subject frame, cm).

    Attributes:
        rest: (N, 3) the mesh in the body's rest pose; posed: (N, 3) as reconstructed.
        faces: (F, 3). weights: (N, J) four-bone weights. body: the fitted body, posed.
        placement: cube <-> subject.
    """

    rest: np.ndarray
    posed: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    body: Body
    placement: CubePlacement

    def pose(self, transforms: np.ndarray) -> np.ndarray:
        """(N, 3) cm: the rest mesh under (J, 4, 4) bone transforms (rest -> posed)."""
        return skin(self.rest, self.weights, transforms)


def rig_mesh(cube_vertices: np.ndarray, faces: np.ndarray, body: Body, fit_vertices) -> RiggedMesh:
    """Bind a reconstruction to its fitted body and unpose it (module docstring).

    Args:
        cube_vertices: (N, 3) the reconstruction in the cube; faces: (F, 3).
        body: ``anny_body(fit.shape, fit.anny_pose_deltas)``; fit_vertices: ``fit.vertices``.
    """
    placement = cube_placement(body, fit_vertices)
    posed = placement.to_subject(cube_vertices)
    weights = transfer_weights(posed, faces, body)
    rest = unskin(posed, weights, body.transforms)
    return RiggedMesh(rest, posed, np.asarray(faces, np.int64), weights, body, placement)
