"""A skinned body mesh for synthetic people, and the skinning and region maths on it.

Frame: the synthetic-person frame, centimetres, y up, the person facing +z, their left side at
+x. The body is split at its texture seams: vertices sharing a ``weld`` index sit at the same
place (they differ only by their uv), so geometry computed on the welded mesh never cracks.

Every body-model adapter (Anny in ``anny_body.py``, the stand-in of the tests) fills the same
:class:`Body`; garments, hair and textures only read these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Part(IntEnum):
    """Body part of a vertex (its dominant skinning group)."""

    HEAD = 0
    EYE = 1
    NECK = 2
    TORSO = 3
    ARM_L = 4
    ARM_R = 5
    HAND_L = 6
    HAND_R = 7
    LEG_L = 8
    LEG_R = 9
    FOOT_L = 10
    FOOT_R = 11


ARMS = (Part.ARM_L, Part.ARM_R)
HANDS = (Part.HAND_L, Part.HAND_R)
LEGS = (Part.LEG_L, Part.LEG_R)
FEET = (Part.FOOT_L, Part.FOOT_R)

JOINT_NAMES = (
    "root",
    "hip.L",
    "hip.R",
    "knee.L",
    "knee.R",
    "ankle.L",
    "ankle.R",
    "waist",
    "chest",
    "neck",
    "head",
    "shoulder.L",
    "shoulder.R",
    "elbow.L",
    "elbow.R",
    "wrist.L",
    "wrist.R",
)
"""Named joints every adapter provides (rest and posed positions, cm)."""


@dataclass
class Body:
    """A posed, skinned body split at its uv seams (see the module docstring for the frame).

    Attributes:
        rest_vertices: (V, 3) float64 cm, the body model's rest pose.
        vertices: (V, 3) float64 cm, posed: ``skin(rest_vertices, weights, transforms)``.
        faces: (F, 3) int64, counter-clockwise seen from outside.
        uv: (V, 2) float64 in [0, 1], v up.
        weld: (V,) int64, the geometric vertex of each vertex (seam copies share it).
        weights: (V, J) float64 skinning weights, rows sum to 1.
        transforms: (J, 4, 4) float64, bone transforms taking rest to posed coordinates.
        parts: (V,) int8 :class:`Part` codes.
        arm_t: (V,) float64 position along the arm: 0 shoulder, 0.5 elbow, 1 wrist; -0.25
            off the arms and hands.
        leg_t: (V,) float64 position along the leg: 0 hip, 0.5 knee, 1 ankle; -0.25 off the
            legs and feet.
        rest_joints: name -> (3,) rest position (cm) of each of ``JOINT_NAMES``.
        joints: name -> (3,) posed position (cm).
        bone_labels: J bone names; bone_parents: J parent indices (-1 for the root).
        info: free-form description (shape and pose parameters).
    """

    rest_vertices: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    weld: np.ndarray
    weights: np.ndarray
    transforms: np.ndarray
    parts: np.ndarray
    arm_t: np.ndarray
    leg_t: np.ndarray
    rest_joints: dict[str, np.ndarray]
    joints: dict[str, np.ndarray]
    bone_labels: list[str]
    bone_parents: list[int]
    info: dict = field(default_factory=dict)

    def part_mask(self, *parts: Part) -> np.ndarray:
        """(V,) bool: vertices in any of ``parts``."""
        return np.isin(self.parts, np.asarray(parts, np.int8))

    def normals(self, smooth_iterations: int = 0) -> np.ndarray:
        """(V, 3) unit posed normals, computed on the welded mesh (no seam cracks).

        ``smooth_iterations`` rounds of neighbour averaging make offsets of concave places
        (armpits, crotch) fold less.
        """
        return welded_normals(self.vertices, self.faces, self.weld, smooth_iterations)


def skin(rest: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Linear blend skinning.

    Args:
        rest: (N, 3) rest positions.
        weights: (N, J) weights, rows summing to 1.
        transforms: (J, 4, 4) bone transforms (rest -> posed).
    Returns:
        (N, 3) posed positions ``sum_j w_nj (T_j [x_n; 1])``.
    """
    blend = np.einsum("nj,jab->nab", weights, transforms[:, :3, :])  # (N, 3, 4)
    return np.einsum("nab,nb->na", blend[:, :, :3], rest) + blend[:, :, 3]


def unskin(posed: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Inverse of :func:`skin` per point: the rest positions that skin to ``posed``.

    Each point's blended transform ``sum_j w_nj T_j`` is inverted (it is invertible for the
    mild poses used here). Shapes as in :func:`skin`.
    """
    blend = np.einsum("nj,jab->nab", weights, transforms[:, :3, :])
    return np.linalg.solve(blend[:, :, :3], (posed - blend[:, :, 3])[:, :, None])[:, :, 0]


def welded_normals(
    vertices: np.ndarray, faces: np.ndarray, weld: np.ndarray, smooth_iterations: int = 0
) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals on the welded mesh, gathered per vertex.

    Args:
        vertices: (V, 3); faces: (F, 3) counter-clockwise from outside; weld: (V,) geometric
            vertex ids in [0, W).
        smooth_iterations: rounds of averaging each welded normal with its edge neighbours.
    """
    n_weld = int(weld.max()) + 1
    wf = weld[faces]
    pos = np.zeros((n_weld, 3))
    pos[weld] = vertices
    tri = pos[wf]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # area-weighted
    normals = np.zeros((n_weld, 3))
    for k in range(3):
        np.add.at(normals, wf[:, k], face_n)
    normals = _unit(normals)
    if smooth_iterations:
        edges = np.concatenate([wf[:, [0, 1]], wf[:, [1, 2]], wf[:, [2, 0]]])
        edges = np.unique(np.sort(edges, axis=1), axis=0)
        for _ in range(smooth_iterations):
            acc = normals.copy()
            np.add.at(acc, edges[:, 0], normals[edges[:, 1]])
            np.add.at(acc, edges[:, 1], normals[edges[:, 0]])
            normals = _unit(acc)
    return normals[weld]


MAX_INFLUENCES = 9
"""Most bones influencing one vertex (Anny's own maximum)."""


def limit_influences(weights: np.ndarray, k: int = MAX_INFLUENCES) -> np.ndarray:
    """(N, J) weights keeping each row's ``k`` largest entries, renormalised to sum to 1."""
    if weights.shape[1] <= k:
        return weights
    cut = np.partition(weights, -k, axis=1)[:, -k][:, None]
    kept = np.where(weights >= cut, weights, 0.0)
    # ties at the cut may keep more than k entries: drop the extras by index order
    extra = np.cumsum(kept > 0, axis=1) > k
    kept = np.where(extra, 0.0, kept)
    return kept / kept.sum(axis=1, keepdims=True)


def largest_influences(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest of each row of (V, J) weights, largest first: (V, k) bone indices
    (0 in slots whose weight is 0) and (V, k) weights (as given, not renormalised)."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(weights, order, axis=1)
    values = np.where(values > 0, values, 0.0)
    return np.where(values > 0, order, 0), values


def nearest_vertices(points: np.ndarray, candidates: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(M,) index (into the full array) of the nearest of ``candidates[pool]`` to each point."""
    from scipy.spatial import cKDTree

    ids = np.flatnonzero(pool)
    return ids[cKDTree(candidates[ids]).query(points)[1]]


def limb_penetration(body: Body, depth: float = 1.0, reach: float = 8.0) -> float:
    """Fraction of forearm and hand points (posed) more than ``depth`` cm inside the torso or
    legs, judged by the tangent plane of the nearest trunk or leg skin vertex (within
    ``reach`` cm): a cheap test for poses that push hands into the body (touching is fine)."""
    from scipy.spatial import cKDTree

    first = np.unique(body.weld, return_index=True)[1]
    limb = first[body.arm_t[first] > 0.6]
    trunk = first[np.isin(body.parts[first], [Part.TORSO, *LEGS])]
    if len(limb) == 0 or len(trunk) == 0:
        return 0.0
    normals = body.normals()
    distance, index = cKDTree(body.vertices[trunk]).query(body.vertices[limb])
    nearest = trunk[index]
    height = np.einsum("ij,ij->i", body.vertices[limb] - body.vertices[nearest], normals[nearest])
    return float(((height < -depth) & (distance < reach)).mean())


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def limb_coordinate(
    points: np.ndarray, start: np.ndarray, middle: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """(N,) position of ``points`` along the polyline start -> middle -> end.

    0 at ``start``, 0.5 at ``middle``, 1 at ``end``: the projection on the first segment for
    points before the middle joint's plane, on the second after it (and beyond 1 past ``end``).
    """
    a, b = middle - start, end - middle
    t1 = (points - start) @ a / (a @ a)
    t2 = (points - middle) @ b / (b @ b)
    return np.where(t2 < 0.0, 0.5 * t1, 0.5 + 0.5 * t2)


def limb_fields(
    rest: np.ndarray, parts: np.ndarray, joints: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``arm_t`` and ``leg_t`` fields of :class:`Body` from rest positions and parts.

    Args:
        rest: (V, 3) rest positions (cm); parts: (V,) Part codes; joints: rest joints.
    Returns:
        arm_t, leg_t: (V,) float64 (see :class:`Body`); hands and feet are clamped to >= 1.
    """
    arm_t = np.full(len(rest), -0.25)
    leg_t = np.full(len(rest), -0.25)
    for side in ("L", "R"):
        arm, hand = Part[f"ARM_{side}"], Part[f"HAND_{side}"]
        leg, foot = Part[f"LEG_{side}"], Part[f"FOOT_{side}"]
        t = limb_coordinate(
            rest, joints[f"shoulder.{side}"], joints[f"elbow.{side}"], joints[f"wrist.{side}"]
        )
        arm_t = np.where(parts == arm, np.clip(t, 0.0, None), arm_t)
        arm_t = np.where(parts == hand, np.maximum(t, 1.0), arm_t)
        t = limb_coordinate(
            rest, joints[f"hip.{side}"], joints[f"knee.{side}"], joints[f"ankle.{side}"]
        )
        leg_t = np.where(parts == leg, np.clip(t, 0.0, None), leg_t)
        leg_t = np.where(parts == foot, np.maximum(t, 1.0), leg_t)
    return arm_t, leg_t


@dataclass(frozen=True)
class HeadFrame:
    """Rest-pose landmarks of the head (cm, subject frame), measured on the mesh.

    Attributes:
        center: (3,) middle of the skull (x, z of the head's vertices, y between chin and top).
        top: y of the crown; chin: y of the lowest front head vertex.
        eyes: (2, 3) eyeball centres (left, right); eye_radius: their radius.
    """

    center: np.ndarray
    top: float
    chin: float
    eyes: np.ndarray
    eye_radius: float

    @property
    def height(self) -> float:
        """Chin to crown (cm)."""
        return self.top - self.chin


def head_frame(rest: np.ndarray, parts: np.ndarray) -> HeadFrame:
    """:class:`HeadFrame` of a body from its rest vertices (V, 3) and parts (V,)."""
    head = rest[parts == Part.HEAD]
    eye_pts = rest[parts == Part.EYE]
    if len(eye_pts) == 0:  # no eyeballs: take points on the face at mid-head height
        eye_pts = head
    eyes = np.stack([eye_pts[eye_pts[:, 0] >= 0].mean(0), eye_pts[eye_pts[:, 0] < 0].mean(0)])
    radius = float(np.linalg.norm(eye_pts[eye_pts[:, 0] >= 0] - eyes[0], axis=1).max())
    front = head[head[:, 2] > eyes[:, 2].mean() - 3.0]
    top = float(head[:, 1].max())
    chin = float(front[:, 1].min())
    center = np.array(
        [head[:, 0].mean(), 0.5 * (top + chin), 0.5 * (head[:, 2].min() + head[:, 2].max())]
    )
    return HeadFrame(center=center, top=top, chin=chin, eyes=eyes, eye_radius=radius)


def split_at_seams(
    faces: np.ndarray, face_uv_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a mesh with per-corner uv indices into one vertex per (vertex, uv) pair.

    Args:
        faces: (F, 3) geometric vertex indices; face_uv_ids: (F, 3) uv indices per corner.
    Returns:
        new_faces: (F, 3) indices into the split vertices; weld: (V', ) geometric vertex of
        each split vertex; uv_ids: (V',) uv index of each split vertex. Sorted by (weld, uv).
    """
    pairs = np.stack([faces.ravel(), face_uv_ids.ravel()], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return inverse.reshape(faces.shape).astype(np.int64), unique[:, 0], unique[:, 1]


def leg_gap(body: Body) -> np.ndarray:
    """(V,) half the posed distance (cm) from each leg vertex to the other leg or foot (inf
    elsewhere): how far a trouser leg may reach toward the other before they meet."""
    from scipy.spatial import cKDTree

    out = np.full(len(body.vertices), np.inf)
    for side, other in (("L", "R"), ("R", "L")):
        here = body.parts == Part[f"LEG_{side}"]
        others = body.vertices[body.part_mask(Part[f"LEG_{other}"], Part[f"FOOT_{other}"])]
        out[here] = 0.5 * cKDTree(others).query(body.vertices[here])[0]
    return out
