"""A skeleton for a skinned avatar: bind frames, bone transforms to node poses and back.

Frame: the avatar frame is glTF's: metres, y up, the person facing +z, their left at +x (the
synthetic-person frame of ``pifuhd.body.skinned`` divided by 100).

Skinning convention (as ``pifuhd.body.skinned.skin``): a bone transform ``T_j`` (4, 4) takes
rest-pose points to posed points, ``x' = sum_j w_j T_j x``. glTF skins with
``sum_j w_j G_j B_j^-1 x``, where ``G_j`` is the joint node's world matrix and ``B_j^-1`` its
inverse bind matrix. Binding each joint at its bone's rest head with no rotation,
``B_j = translate(h_j)``, and posing its node with ``G_j = T_j B_j`` makes the two equal; the node's
local pose is then ``L_j = G_parent^-1 G_j`` (the root's: ``G_root``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from pifuhd.body.skinned import largest_influences

GLTF_INFLUENCES = 4
"""Bones per vertex in a glTF ``JOINTS_0`` / ``WEIGHTS_0`` pair."""


@dataclass(frozen=True)
class Rig:
    """A bone hierarchy bound at its rest pose.

    Attributes:
        labels: J bone names; parents: J parent indices (-1 for roots), each parent before its
            children.
        heads: (J, 3) float64 rest position of each bone's head (avatar frame, metres).
    """

    labels: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.parents) or self.heads.shape != (len(self.labels), 3):
            raise ValueError("a rig needs one parent and one (3,) head per bone label")
        for j, p in enumerate(self.parents):
            if p >= j:
                raise ValueError(f"bone {self.labels[j]!r} comes before its parent")

    @property
    def children(self) -> list[list[int]]:
        """Indices of each bone's children."""
        out: list[list[int]] = [[] for _ in self.labels]
        for j, p in enumerate(self.parents):
            if p >= 0:
                out[p].append(j)
        return out


def translation(offsets: np.ndarray) -> np.ndarray:
    """(..., 4, 4) translations by (..., 3) ``offsets``."""
    out = np.broadcast_to(np.eye(4), (*offsets.shape[:-1], 4, 4)).copy()
    out[..., :3, 3] = offsets
    return out


def inverse_bind_matrices(rig: Rig) -> np.ndarray:
    """(J, 4, 4) ``B_j^-1``: joints bound at their rest heads without rotation."""
    return translation(-rig.heads)


def local_poses(rig: Rig, transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node poses that make glTF skinning equal linear blend skinning by ``transforms``.

    Args:
        rig: the skeleton; transforms: (J, 4, 4) rigid bone transforms, rest -> posed
            (avatar frame, metres).
    Returns:
        (J, 3) local translations and (J, 4) local rotations as unit quaternions (x, y, z, w,
        glTF's order) of each joint node relative to its parent node.
    """
    world = transforms @ translation(rig.heads)  # G_j = T_j B_j
    parent_world = np.stack([world[p] if p >= 0 else np.eye(4) for p in rig.parents])
    local = np.linalg.inv(parent_world) @ world
    quats = Rotation.from_matrix(local[:, :3, :3]).as_quat()
    quats *= np.where(quats[:, 3:] < 0, -1.0, 1.0)  # one hemisphere: w >= 0
    return local[:, :3, 3].copy(), quats


def world_matrices(rig: Rig, translations: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """(J, 4, 4) joint node world matrices from local (J, 3) translations and (J, 4) xyzw
    quaternions (the inverse of :func:`local_poses`, as a glTF viewer computes them)."""
    local = np.tile(np.eye(4), (len(rig.labels), 1, 1))
    local[:, :3, :3] = Rotation.from_quat(rotations).as_matrix()
    local[:, :3, 3] = translations
    world = np.empty_like(local)
    for j, p in enumerate(rig.parents):
        world[j] = local[j] if p < 0 else world[p] @ local[j]
    return world


def top_influences(weights: np.ndarray, k: int = GLTF_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest skinning weights per vertex, renormalised.

    Args:
        weights: (V, J) non-negative weights with a positive sum per row.
    Returns:
        (V, k) uint16 bone indices (unused slots: 0) and (V, k) float32 weights summing to 1
        (unused slots: 0), largest first.
    """
    order, values = largest_influences(weights, k)
    values = values / values.sum(axis=1, keepdims=True)
    return order.astype(np.uint16), values.astype(np.float32)


def dense_influences(indices: np.ndarray, values: np.ndarray, n_bones: int) -> np.ndarray:
    """(V, J) dense weights from (V, k) indices and weights (inverse of :func:`top_influences`)."""
    out = np.zeros((len(indices), n_bones))
    np.add.at(out, (np.arange(len(indices))[:, None], indices.astype(np.int64)), values)
    return out
