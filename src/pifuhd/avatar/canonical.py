"""The canonical (rest-pose) surface of a photo's person, pulled back through the fitted body.

CAR (Liao et al., CVPR 2023, Sec. 3.1) defines the clothed person in the body model's canonical
pose: a canonical point ``x_c`` is posed by linear blend skinning with the body's weights near
it, projected into the photo, and judged from the pixel-aligned features there. Here the judge
is the reconstruction's own occupancy field (PIFuHD, body-guided), so the canonical field is

    occ_c(x_c) = occ(cube(skin(x_c, w(x_c), T)))     for x_c within ``reach`` of the body,

with ``w`` the rest body's skinning weights interpolated from its nearest vertices, ``T`` the
fitted pose's bone transforms and ``cube`` the fit's placement. Marching cubes of ``occ_c``
gives the canonical mesh; posing that mesh with the same weights gives the posed mesh
(CAR Sec. 3.2). Compared with unposing the reconstructed mesh vertex by vertex, limbs that
were raised, bent or close to the body come out whole in the rest pose, because every
canonical point takes its weights from the rest body where the limbs stand apart.

CAR's learned canonical model, which also reads the canonical coordinate and normal, is
``pifuhd.avatar.learned``; it meshes and binds through :func:`mesh_query` and
:func:`bind_canonical` as this does.

Frames: canonical and posed points in the synthetic-person frame (cm, y up, facing +z); the
occupancy in the crop's cube (``pifuhd.avatar.rigging``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from pifuhd.avatar.rig import GLTF_INFLUENCES, dense_influences, top_influences
from pifuhd.avatar.rigging import CubePlacement, RiggedMesh, cube_placement
from pifuhd.body.skinned import Body
from pifuhd.geometry.fragments import drop_fragments
from pifuhd.geometry.grid import evaluate_coarse_to_fine
from pifuhd.geometry.marching import surface_mesh, triangulate

NEIGHBOURS = 8
"""Rest body vertices whose weights a canonical point blends (``RestSkin.neighbours``)."""
BLEND_CM = 3.0
"""Width of the Gaussian that blends the nearest vertices' weights (``RestSkin.neighbours``)."""
REACH_CM = 25.0
"""Canonical points farther than this from the rest body are outside (hair, skirts and coats
lie within it; farther, a pose maps empty canonical space onto the person)."""
AGREE_CM = 8.0
"""A canonical point counts only where the pose takes it next to the same part of the body:
the rest body vertex nearest to it and the one whose posed copy is nearest to its posed
image must lie within this distance of each other in the rest pose (else a pose would map
empty canonical space, e.g. above a shoulder when the arm is raised, onto another part)."""
FRAGMENT_SHARE, FRAGMENT_GAP = 0.2, 3.0
"""Canonical pieces with fewer faces than this share of the largest and farther than this
(cm) from it are dropped (``pifuhd.geometry.fragments``)."""
MARGIN_CM = 12.0
"""Space added around the rest body's bounding box for the canonical grid."""


@dataclass(frozen=True)
class RestSkin:
    """The rest body's skinning, queried anywhere in canonical space.

    Attributes:
        vertices: (V, 3) rest body vertices (cm). weights: (V, J) their weights. tree: a
            KD-tree over ``vertices``.
    """

    vertices: np.ndarray
    weights: np.ndarray
    tree: cKDTree
    posed_tree: cKDTree

    @classmethod
    def of(cls, body: Body) -> RestSkin:
        """From a posed body (its ``rest_vertices``, ``vertices`` and ``weights``; seam copies
        dropped)."""
        _, first = np.unique(body.weld, return_index=True)
        rest = np.asarray(body.rest_vertices[first], np.float64)
        posed = np.asarray(body.vertices[first], np.float64)
        weights = np.asarray(body.weights[first], np.float64)
        return cls(rest, weights, cKDTree(rest), cKDTree(posed))

    def agrees(self, canonical: np.ndarray, posed: np.ndarray, tol: float = AGREE_CM):
        """(N,) bool: the body parts nearest to ``canonical`` (rest) and to its image
        ``posed`` are the same to within ``tol`` cm in the rest pose (``AGREE_CM``)."""
        _, rest_idx = self.tree.query(canonical)
        _, posed_idx = self.posed_tree.query(posed)
        gap = np.linalg.norm(self.vertices[rest_idx] - self.vertices[posed_idx], axis=1)
        return gap <= tol

    def neighbours(self, points: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, ...]:
        """((N, k) nearest rest vertices, (N, k) their blend weights, rows summing to 1, (N,)
        distance to the nearest). Weights ``g(d_i) - g(d_{k+1})`` with the Gaussian
        ``g(d) = exp(-(d^2 - d_1^2) / s^2)``, ``s = BLEND_CM``, less that of the first vertex left
        out: smooth across the vertices and continuous as one enters or leaves the set."""
        dist, idx = self.tree.query(np.asarray(points, np.float64), k=k + 1)
        gauss = np.exp(-(dist**2 - dist[:, :1] ** 2) / BLEND_CM**2)
        weight = gauss[:, :k] - gauss[:, k:]
        total = weight.sum(axis=1, keepdims=True)
        weight = np.where(total > 1e-12, weight / np.maximum(total, 1e-12), 1.0 / k)
        return idx[:, :k], weight, dist[:, 0]

    def query(self, points: np.ndarray, k: int = NEIGHBOURS) -> tuple[sp.csr_matrix, np.ndarray]:
        """((N, J) sparse blended weights, rows summing to 1; (N,) distance to the nearest
        vertex): the weights of the ``k`` nearest vertices blended as :meth:`neighbours`."""
        idx, weight, nearest = self.neighbours(points, k)
        return self.weights_of(idx, weight), nearest

    def weights_of(self, idx: np.ndarray, weight: np.ndarray) -> sp.csr_matrix:
        """(N, J) sparse: each row blends the weights of its (k,) vertices ``idx`` by
        ``weight`` (:meth:`neighbours`)."""
        n, k = idx.shape
        rows = np.repeat(np.arange(n), k)
        pick = sp.csr_matrix((weight.ravel(), (rows, idx.ravel())), shape=(n, len(self.vertices)))
        return pick @ self.sparse_weights

    @property
    def sparse_weights(self) -> sp.csr_matrix:
        """(V, J) the vertices' weights as a sparse matrix (at most nine bones a vertex)."""
        return sp.csr_matrix(self.weights)


def skin_sparse(points: np.ndarray, weights: sp.csr_matrix, transforms: np.ndarray) -> np.ndarray:
    """Linear blend skinning (``pifuhd.body.skinned.skin``) with (N, J) sparse weights."""
    blend = np.asarray(weights @ transforms[:, :3, :].reshape(len(transforms), 12))
    blend = blend.reshape(-1, 3, 4)
    return np.einsum("nab,nb->na", blend[:, :, :3], points) + blend[:, :, 3]


@dataclass(frozen=True)
class CanonicalBox:
    """A cube around the rest body: canonical = centre + half * u for u in [-1, 1]^3."""

    centre: np.ndarray
    half: float

    @classmethod
    def around(cls, rest_vertices: np.ndarray, margin: float = MARGIN_CM) -> CanonicalBox:
        lo, hi = rest_vertices.min(axis=0) - margin, rest_vertices.max(axis=0) + margin
        return cls(0.5 * (lo + hi), float(0.5 * (hi - lo).max()))

    def to_canonical(self, unit: np.ndarray) -> np.ndarray:
        return self.centre + self.half * np.asarray(unit, np.float64)


def pullback_query(
    occupancy: Callable[[np.ndarray], np.ndarray],
    rest_skin: RestSkin,
    transforms: np.ndarray,
    placement: CubePlacement,
    box: CanonicalBox,
    reach: float = REACH_CM,
    agree: float | None = AGREE_CM,
) -> Callable[[np.ndarray], np.ndarray]:
    """The canonical occupancy as a grid query: (N, 3) float32 points of ``box``'s unit cube
    -> (N,) float32 in [0, 1] (module docstring)."""

    def query(unit: np.ndarray) -> np.ndarray:
        canonical = box.to_canonical(unit)
        dist, _ = rest_skin.tree.query(canonical)
        out = np.zeros(len(unit), np.float32)
        near = dist <= reach
        if near.any():
            weights, _ = rest_skin.query(canonical[near])
            posed = skin_sparse(canonical[near], weights, transforms)
            cube = placement.to_cube(posed).astype(np.float32)
            occ = occupancy(cube)
            if agree is not None:
                occ = np.where(rest_skin.agrees(canonical[near], posed, agree), occ, 0.0)
            out[near] = occ
        return out

    return query


def canonical_surface(
    occupancy: Callable[[np.ndarray], np.ndarray],
    body: Body,
    placement: CubePlacement,
    resolution: int = 256,
    agree: float | None = AGREE_CM,
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the pulled-back occupancy at level 0.5.

    Args:
        occupancy: the photo's field (cube points -> occupancy). body: the fitted body as Anny
            poses it (``anny_body(fit.shape, fit.anny_pose_deltas)``). placement: subject ->
            cube. resolution: grid samples per axis over the canonical box.
    Returns:
        ((V, 3) canonical vertices in cm, (F, 3) faces), counter-clockwise from outside.
    """
    rest_skin = RestSkin.of(body)
    box = CanonicalBox.around(rest_skin.vertices)
    query = pullback_query(occupancy, rest_skin, body.transforms, placement, box, agree=agree)
    return mesh_query(query, box, resolution)


def mesh_query(
    query: Callable[[np.ndarray], np.ndarray], box: CanonicalBox, resolution: int
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes at level 0.5 of a canonical grid query over ``box`` (coarse to fine),
    small distant pieces dropped: ((V, 3) canonical cm, (F, 3) faces)."""
    volume, _ = evaluate_coarse_to_fine(query, resolution)
    mesh = surface_mesh(triangulate(volume, level=0.5), (resolution,) * 3)
    mesh, _ = drop_fragments(mesh, FRAGMENT_SHARE, FRAGMENT_GAP / box.half)
    return box.to_canonical(mesh.vertices), np.asarray(mesh.faces, np.int64)


def bind_canonical(
    rest: np.ndarray, faces: np.ndarray, body: Body, placement: CubePlacement
) -> RiggedMesh:
    """A canonical mesh bound to the body (weights of its nearest rest vertices, four
    influences kept as glTF does) and posed by it (CAR Sec. 3.2)."""
    weights, _ = RestSkin.of(body).query(rest)
    joints, values = top_influences(weights.toarray(), GLTF_INFLUENCES)
    dense = dense_influences(joints, values, weights.shape[1])
    posed = skin_sparse(rest, sp.csr_matrix(dense), body.transforms)
    return RiggedMesh(rest, posed, faces, dense, body, placement)


def rig_canonical(
    occupancy: Callable[[np.ndarray], np.ndarray],
    body: Body,
    fit_vertices: np.ndarray,
    resolution: int = 256,
) -> RiggedMesh:
    """The canonical surface (:func:`canonical_surface`) bound to the body and posed by it
    (CAR Sec. 3.2): a ``RiggedMesh`` whose ``posed`` is the canonical mesh in the photo's
    pose (subject frame; ``placement`` takes it to the cube)."""
    placement = cube_placement(body, fit_vertices)
    rest, faces = canonical_surface(occupancy, body, placement, resolution)
    return bind_canonical(rest, faces, body, placement)
