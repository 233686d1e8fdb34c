"""A differentiable Anny body for fitting: a reduced skeleton, a shape model, blend skinning.

Frame: metres, the synthetic-person axes (y up, the body facing +z, its left side at +x),
``p = ANNY_TO_SUBJECT @ p_anny``. Each rotating bone turns about its rest head by a rotation
expressed in these (reference-pose) axes and is carried along by its rotating ancestors: the
convention of Anny's "local-ref" pose parameters and of :func:`pifuhd.body.poses.joint_rotations`
(so ``anny_deltas`` converts a fit to Anny's own pose parameters exactly).

Only the bones of ``POSE_BONES`` and the root rotate; every other Anny bone (twist bones,
fingers, toes, face) keeps an identity delta, so its skinning transform equals that of its
nearest rotating ancestor and its weights are merged into that ancestor's.

Shape: the rest vertices and bone heads as functions of Anny's six phenotype values, linear in
five of them and interpolated over age (:mod:`pifuhd.body.shape_model`). The fitter uses that
model; the final mesh is rebuilt exactly by Anny at the fitted values (:func:`exact_rest`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pifuhd.body.anny import ANNY_TO_SUBJECT, POSE_BONES, SHAPE_KEYS, anny_version, rest_model
from pifuhd.body.poses import GENERIC_BONES
from pifuhd.body.shape_model import SHAPE_CENTRE, ShapeModel, build_arrays

log = logging.getLogger(__name__)

ROOT = "root"


@dataclass
class RestShape:
    """Geometry at one shape, float64 metres in subject axes, for B rotating bones.

    Attributes:
        points: (V, B, 3) each vertex's reference-pose position as each rotating bone carries
            it, weighted: ``sum_c w_vc E_c v`` over the Anny bones c merged into that bone, with
            ``E_c`` Anny's rest -> reference-pose transform of bone c.
        mass: (V, B) the merged weights ``sum_c w_vc`` (rows sum to 1).
        heads: (B, 3) the rotating bones' heads in the reference pose.
        all_heads: (J, 3) every Anny bone's head in the reference pose.
    """

    points: np.ndarray
    mass: np.ndarray
    heads: np.ndarray
    all_heads: np.ndarray

    def reference_vertices(self) -> np.ndarray:
        """(V, 3) the unposed (reference-pose) mesh."""
        return self.points.sum(axis=1)


def exact_rest(model, shape: dict[str, float], bones: list[int], merge: np.ndarray) -> RestShape:
    """Anny's geometry for ``shape`` reduced to the rotating ``bones`` (Anny indices).

    Args:
        model: the Anny model; shape: phenotype values (``SHAPE_KEYS``, default 0.5).
        bones: Anny indices of the rotating bones; merge: (J,) for each Anny bone, the position
            in ``bones`` of its nearest rotating ancestor (itself if it rotates).
    """
    rest = rest_model(model, shape)
    with torch.no_grad():
        ident, ref_poses = model.get_bone_transforms(None, rest["rest_bone_poses"])
    c = ANNY_TO_SUBJECT
    vertices = rest["rest_vertices"][0].double().numpy()
    e = ident[0].double().numpy()  # (J, 4, 4) rest -> reference, Anny axes
    index = model.vertex_bone_indices.numpy()  # (V, K) each vertex's Anny bones
    weight = model.vertex_bone_weights.double().numpy()  # (V, K)
    # each (vertex, Anny bone) pair moved by its bone, then summed into its rotating bone
    moved = np.einsum("vkab,vb->vka", e[index, :3, :3], vertices) + e[index, :3, 3]
    slot = (np.arange(len(vertices))[:, None] * len(bones) + merge[index]).reshape(-1)
    points = np.zeros((len(vertices) * len(bones), 3))
    mass = np.zeros(len(vertices) * len(bones))
    np.add.at(points, slot, (weight[..., None] * moved).reshape(-1, 3))
    np.add.at(mass, slot, weight.reshape(-1))
    points = points.reshape(len(vertices), len(bones), 3)
    mass = mass.reshape(len(vertices), len(bones))
    all_heads = ref_poses[0, :, :3, 3].double().numpy() @ c.T
    return RestShape(points @ c.T, mass, all_heads[bones], all_heads)


def dense_weights(model) -> np.ndarray:
    """(V, J) Anny's skinning weights as a dense array (rows sum to 1)."""
    dense = np.zeros((model.template_vertices.shape[0], len(model.bone_labels)))
    np.add.at(
        dense,
        (np.arange(len(dense))[:, None], model.vertex_bone_indices.numpy()),
        model.vertex_bone_weights.numpy(),
    )
    return dense


def rotating_bones(labels: list[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The rotating Anny bones (root first, then ``POSE_BONES`` in parent-before-child order)
    and each generic bone (``GENERIC_BONES``) -> its Anny bones."""
    order = [ROOT]
    for generic in GENERIC_BONES:
        order += list(POSE_BONES[generic])
    order.sort(key=labels.index)
    return order, {g: POSE_BONES[g] for g in GENERIC_BONES}


def merge_map(parents: list[int], keep: list[int]) -> tuple[np.ndarray, list[int]]:
    """Each Anny bone's nearest rotating ancestor.

    Args:
        parents: (J,) parent of each Anny bone (-1 for the root); keep: Anny indices of the
            rotating bones, root first.
    Returns:
        (J,) int64 position in ``keep`` of each bone's nearest rotating ancestor (itself if it
        rotates), and for each kept bone the position in ``keep`` of its rotating parent (-1).
    """
    slot = {b: i for i, b in enumerate(keep)}

    def ancestor(b: int) -> int:
        while b not in slot:
            b = parents[b]
        return slot[b]

    merge = np.array([ancestor(j) for j in range(len(parents))], np.int64)
    kept_parents = [-1 if parents[b] < 0 else ancestor(parents[b]) for b in keep]
    return merge, kept_parents


KINEMATICS_FORMAT = 2
"""Version of the cached shape model's file (bump when its arrays change). 1: one
linearisation about the middle shape; 2: conditioned on age (:mod:`pifuhd.body.shape_model`)."""

CACHED_ARRAYS = ("pairs", "points", "d_points", "heads", "d_heads", "mass")


def shape_model_arrays(model, anny_ids: list[int], merge: np.ndarray) -> dict[str, np.ndarray]:
    """The cached arrays: :func:`pifuhd.body.shape_model.build_arrays` from :func:`exact_rest`,
    and ``mass`` (V, B) float32."""
    centre = exact_rest(model, {k: SHAPE_CENTRE for k in SHAPE_KEYS}, anny_ids, merge)
    arrays = build_arrays(
        lambda shape: exact_rest(model, shape, anny_ids, merge), SHAPE_KEYS, centre.mass
    )
    arrays["mass"] = np.ascontiguousarray(centre.mass, dtype=np.float32)
    return arrays


def kinematics_cache_path() -> Path | None:
    """Where the shape model is cached: beside Anny's cache, named by this format and
    the Anny version (None when Anny is not installed)."""
    try:
        import anny.paths
    except ImportError:
        return None
    name = f"pifuhd_kinematics_v{KINEMATICS_FORMAT}_anny{anny_version()}.npz"
    return Path(anny.paths.get_anny_cache_path()) / name


def _model_key(model) -> np.ndarray:
    """What the cache must match: vertex and bone counts and a checksum of the template."""
    template = model.template_vertices.double().numpy()
    return np.array([len(template), len(model.bone_labels), template.sum(), np.abs(template).sum()])


def read_cached(path: Path | None, model) -> dict[str, np.ndarray] | None:
    """The cached arrays when ``path`` holds them for this model, else None (data only: no
    pickles are read)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if not np.allclose(data["key"], _model_key(model), rtol=0, atol=1e-6):
                return None
            return {k: np.ascontiguousarray(data[k]) for k in CACHED_ARRAYS}
    except (OSError, KeyError, ValueError) as exc:
        log.warning("ignoring the unreadable body cache %s (%s); rebuilding it", path, exc)
        return None


def write_cached(path: Path | None, model, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays to ``path`` (atomically); a folder that cannot be written is logged
    and the arrays are simply not cached."""
    if path is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, key=_model_key(model), **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot cache the body model's shape derivatives in %s (%s)", path, exc)
        tmp.unlink(missing_ok=True)


def rotvec_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations from (..., 3) axis-angle vectors (Rodrigues; smooth at zero)."""
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


class BodyKinematics:
    """The Anny body reduced to its rotating bones, with a shape model (module docstring).

    Built once per process from the Anny model: 99 rest evaluations (about 30 s here), kept in
    a file beside Anny's own cache (:func:`kinematics_cache_path`) and read from there after.

    Attributes:
        bones: rotating Anny bone names (B); anny_ids: their Anny indices; parents: (B,)
            positions of their rotating parents (-1 for the root); merge: (J,) see
            :func:`merge_map`.
        groups: (G, B) float32, the share of each generic bone's rotation vector given to each
            Anny bone (``GENERIC_BONES``; the torso's four spine bones share it evenly).
        shape_model: :class:`pifuhd.body.shape_model.ShapeModel` of all vertices.
        mass: (V, B) merged weights (independent of shape). faces: (F, 3) int64.
    """

    def __init__(self, model) -> None:
        labels = list(model.bone_labels)
        names, generic = rotating_bones(labels)
        anny_ids = [labels.index(n) for n in names]
        merge, parents = merge_map([int(p) for p in model.bone_parents], anny_ids)
        groups = np.zeros((len(GENERIC_BONES), len(names)))
        for g, bones in enumerate(generic.values()):
            for b in bones:
                groups[g, names.index(b)] = 1.0 / len(bones)
        path = kinematics_cache_path()
        arrays = read_cached(path, model)
        if arrays is None:
            arrays = shape_model_arrays(model, anny_ids, merge)
            write_cached(path, model, arrays)
        self.model = model
        self.labels = labels
        self.bones, self.anny_ids, self.parents, self.merge = names, anny_ids, parents, merge
        f32 = torch.float32
        self.groups = torch.tensor(groups, dtype=f32)
        self.shape_model = ShapeModel(arrays, arrays["mass"], SHAPE_KEYS)
        self.mass = self.shape_model.mass
        self.faces = model.faces.numpy().astype(np.int64)

    def exact(self, shape: dict[str, float]) -> RestShape:
        """Anny's exact geometry at ``shape`` (not the shape model)."""
        return exact_rest(self.model, shape, self.anny_ids, self.merge)

    def rest(self, shape: torch.Tensor, index: torch.Tensor | None = None):
        """The shape model's geometry for ``shape`` (P,) phenotype values in [0, 1]
        (``SHAPE_KEYS`` order): (N, B, 3) points of all vertices (or of ``index``), (N, B) mass,
        (B, 3) heads."""
        model = self.shape_model if index is None else self.shape_model.subset(index)
        return model.geometry(shape)

    def bone_rotations(self, root: torch.Tensor, generic: torch.Tensor) -> torch.Tensor:
        """(B, 3, 3) rotation of each rotating bone from (3,) root and (G, 3) generic-bone
        rotation vectors."""
        rotvecs = self.groups.T @ generic
        rotvecs = torch.cat([root[None], rotvecs[1:]], 0)
        return rotvec_matrix(rotvecs)

    def forward_kinematics(
        self, rotations: torch.Tensor, heads: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """World transforms of the rotating bones: (B, 3, 3) rotations and (B, 3) translations
        taking rest to posed points (``A_j = A_parent o (x -> R_j (x - h_j) + h_j)``)."""
        rots, trans = [], []
        for j, p in enumerate(self.parents):
            local_t = heads[j] - rotations[j] @ heads[j]
            if p < 0:
                rots.append(rotations[j])
                trans.append(local_t)
            else:
                rots.append(rots[p] @ rotations[j])
                trans.append(rots[p] @ local_t + trans[p])
        return torch.stack(rots), torch.stack(trans)

    @staticmethod
    def pose_points(
        points: torch.Tensor, mass: torch.Tensor, rots: torch.Tensor, trans: torch.Tensor
    ) -> torch.Tensor:
        """(N, 3) posed points from :meth:`rest`'s (N, B, 3) points and (N, B) mass and the
        bone transforms of :meth:`forward_kinematics` (linear blend skinning)."""
        return torch.einsum("bij,nbj->ni", rots, points) + mass @ trans

    def anny_deltas(self, root: np.ndarray, generic: np.ndarray) -> np.ndarray:
        """(J, 4, 4) Anny "local-ref" pose parameters (Anny axes) for rotation vectors in
        subject axes: (3,) root and (G, 3) generic bones. The root's translation is zero."""
        c = ANNY_TO_SUBJECT
        rot = self.bone_rotations(
            torch.as_tensor(root, dtype=torch.float64).float(),
            torch.as_tensor(generic, dtype=torch.float64).float(),
        ).double()
        rot = rotvec_matrix(rotation_vectors(rot.numpy()))  # re-orthonormalised
        deltas = np.tile(np.eye(4), (len(self.labels), 1, 1))
        for j, a in enumerate(self.anny_ids):
            deltas[a, :3, :3] = c.T @ rot[j].numpy() @ c
        return deltas


def rotation_vectors(matrices: np.ndarray) -> torch.Tensor:
    """(..., 3) float64 rotation vectors of (..., 3, 3) rotation matrices."""
    from scipy.spatial.transform import Rotation

    flat = matrices.reshape(-1, 3, 3)
    vec = Rotation.from_matrix(flat).as_rotvec()
    return torch.as_tensor(vec.reshape(*matrices.shape[:-2], 3))
