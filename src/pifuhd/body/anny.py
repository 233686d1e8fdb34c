"""Anny (NAVER, Apache-2.0, ``pip install anny``) as the body of synthetic people.

The model is built once per process (``load_anny``); its first build writes a ~790 MB cache
(``ANNY_CACHE_DIR``, or ``cache_dir``) in about 80-95 s, later builds read it in under a second.

Frames: Anny works in metres, z up, the body facing -y. The synthetic-person frame is
centimetres, y up, facing +z: ``p = 100 * ANNY_TO_SUBJECT @ p_anny`` (then a translation, see
:func:`anny_body`). Pose parameters are Anny's "local-ref" delta transforms.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from pifuhd.body.poses import Pose, joint_rotations
from pifuhd.body.skinned import Body, Part, limb_fields, skin, split_at_seams
from pifuhd.errors import PifuhdError

log = logging.getLogger(__name__)

ANNY_MISSING = "synthetic people need the optional `anny` package: pip install 'pifuhd[data]'"

ANNY_TO_SUBJECT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""(3, 3) rotation from Anny's axes (z up, facing -y) to the subject frame (y up, facing +z)."""

SHAPE_KEYS = ("gender", "age", "muscle", "weight", "height", "proportions")
"""Anny's phenotype parameters, each in [0, 1]: gender 0 = male, 1 = female; age 1/3 = 11,
2/3 = 25, 1 = 90 years (piecewise linear); the others from minimal to maximal."""

JOINT_BONES = {
    "root": "root",
    "waist": "spine03",
    "chest": "spine01",
    "neck": "neck01",
    "head": "head",
    **{f"hip.{s}": f"upperleg01.{s}" for s in "LR"},
    **{f"knee.{s}": f"lowerleg01.{s}" for s in "LR"},
    **{f"ankle.{s}": f"foot.{s}" for s in "LR"},
    **{f"shoulder.{s}": f"upperarm01.{s}" for s in "LR"},
    **{f"elbow.{s}": f"lowerarm01.{s}" for s in "LR"},
    **{f"wrist.{s}": f"wrist.{s}" for s in "LR"},
}
"""Named joint -> the Anny bone whose head it is."""

POSE_BONES = {
    "torso": ("spine04", "spine03", "spine02", "spine01"),
    "neck": ("neck01",),
    "head": ("head",),
    **{
        f"{g}.{s}": (f"{a}.{s}",)
        for s in "LR"
        for g, a in (
            ("upperarm", "upperarm01"),
            ("lowerarm", "lowerarm01"),
            ("upperleg", "upperleg01"),
            ("lowerleg", "lowerleg01"),
            ("foot", "foot"),
        )
    },
}
"""Generic pose bone -> Anny bones sharing its rotation (split evenly along a chain)."""

_MODELS: dict[str, object] = {}


class AnnyMissingError(PifuhdError):
    """The optional ``anny`` package is not installed."""


def part_of_bone(label: str) -> Part:
    """The :class:`Part` an Anny bone's skin belongs to."""
    name, _, side = label.partition(".")
    if name == "head":
        return Part.HEAD
    if name == "eye":
        return Part.EYE
    if name.startswith("neck"):
        return Part.NECK
    if name.startswith(("upperarm", "lowerarm")):
        return Part[f"ARM_{side}"]
    if name.startswith(("wrist", "finger", "metacarpal")):
        return Part[f"HAND_{side}"]
    if name.startswith(("upperleg", "lowerleg")):
        return Part[f"LEG_{side}"]
    if name.startswith(("foot", "toe")):
        return Part[f"FOOT_{side}"]
    return Part.TORSO  # root, spine, pelvis, clavicle, shoulder


def load_anny(cache_dir: str | os.PathLike[str] | None = None):
    """The Anny model (built once per process and cache folder).

    ``cache_dir`` overrides ``ANNY_CACHE_DIR``; without either Anny uses ``~/.cache/anny``.

    Raises:
        AnnyMissingError: if ``anny`` is not installed.
    """
    try:
        import anny
        import anny.paths
    except ImportError as exc:
        raise AnnyMissingError(ANNY_MISSING) from exc
    folder = cache_dir if cache_dir is not None else os.environ.get("ANNY_CACHE_DIR")
    key = str(Path(folder).resolve()) if folder else ""
    if key not in _MODELS:
        if folder:
            anny.paths.set_anny_cache_path(Path(folder))
        cache = anny.paths.get_anny_cache_path()
        if cache_is_cold(cache):  # a minute or more of silence otherwise: say what happens
            log.warning(
                "first use of the Anny body model: building its cache in %s (about 90 s and "
                "790 MB, once; set ANNY_CACHE_DIR to put it elsewhere)",
                cache,
            )
        else:
            log.info("loading the Anny body model (cache: %s)", cache)
        _MODELS[key] = anny.Anny(skinning_method="lbs")
    return _MODELS[key]


def cache_is_cold(cache: Path) -> bool:
    """Whether Anny's cache folder is missing or empty (its first build takes about 90 s)."""
    return not cache.is_dir() or not any(cache.iterdir())


def anny_version() -> str:
    """The installed Anny version, or "missing"."""
    try:
        import anny
    except ImportError:
        return "missing"
    return str(anny.__version__)


def _subject_transforms(transforms: np.ndarray) -> np.ndarray:
    """(J, 4, 4) Anny bone transforms (m, Anny axes) expressed in subject axes and cm."""
    c = ANNY_TO_SUBJECT
    out = np.zeros_like(transforms)
    out[:, :3, :3] = c @ transforms[:, :3, :3] @ c.T
    out[:, :3, 3] = 100.0 * transforms[:, :3, 3] @ c.T
    out[:, 3, 3] = 1.0
    return out


def pose_deltas(
    pose: Pose, ref_joints: dict[str, np.ndarray], bone_labels: list[str]
) -> np.ndarray:
    """(J, 4, 4) Anny "local-ref" delta transforms for ``pose`` (identity for untouched bones).

    Args:
        pose: the pose; ref_joints: reference-pose joints in the subject frame (cm).
        bone_labels: Anny's bone names.
    """
    return rotation_deltas(joint_rotations(pose, ref_joints), bone_labels)


def rotation_deltas(
    rotations: dict[str, np.ndarray], bone_labels: list[str], root: np.ndarray | None = None
) -> np.ndarray:
    """(J, 4, 4) Anny "local-ref" delta transforms from generic-bone rotations.

    Args:
        rotations: generic bone (``POSE_BONES``' keys) -> (3, 3) rotation about its joint in
            the reference pose's axes, subject frame (as ``joint_rotations`` gives them); a
            chain's rotation is split evenly over its Anny bones.
        bone_labels: Anny's bone names. root: (3, 3) rotation of the whole body (subject
            axes), or None.
    """
    deltas = np.tile(np.eye(4), (len(bone_labels), 1, 1))
    c = ANNY_TO_SUBJECT
    for generic, rot in rotations.items():
        bones = POSE_BONES[generic]
        rotvec = Rotation.from_matrix(c.T @ rot @ c).as_rotvec() / len(bones)
        for bone in bones:
            deltas[bone_labels.index(bone), :3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    if root is not None:
        deltas[bone_labels.index("root"), :3, :3] = c.T @ root @ c
    return deltas


def rest_model(model, shape: dict[str, float]):
    import torch

    with torch.no_grad():
        pheno = model._parse_parameter_kwargs(shape, model.phenotype_labels, 0.5, "shape")
        local = model._parse_parameter_kwargs(None, model.local_change_labels, 0.0, "local")
        coeffs = model._get_phenotype_blendshape_coefficients(
            pheno, local, torch.zeros(1, 0, dtype=pheno.dtype)
        )
        return model.get_rest_model(coeffs)


def fit_stature(model, shape: dict[str, float], stature: float, steps: int = 14) -> float:
    """Anny's ``height`` parameter in [0, 1] giving a rest height closest to ``stature`` cm
    (bisection; the other ``shape`` entries are kept)."""
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        z = rest_model(model, {**shape, "height": mid})["rest_vertices"][0, :, 2]
        if 100.0 * float(z.max() - z.min()) < stature:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


_TOPOLOGY: dict[int, tuple] = {}


def _topology(model) -> tuple:
    """(faces, weld, uv ids) split at the uv seams, (V0, J) dense skinning weights and (V0,)
    part codes of ``model``: the same for every shape and pose, so built once per model."""
    key = id(model)
    if key not in _TOPOLOGY:
        faces, weld, uv_ids = split_at_seams(
            model.faces.numpy(), model.face_texture_coordinate_indices.numpy()
        )
        labels = list(model.bone_labels)
        dense = np.zeros((model.template_vertices.shape[0], len(labels)))
        np.add.at(
            dense,
            (np.arange(len(dense))[:, None], model.vertex_bone_indices.numpy()),
            model.vertex_bone_weights.numpy(),
        )
        group = np.array([part_of_bone(b) for b in labels], np.int8)
        part_weights = np.zeros((len(dense), len(Part)))
        np.add.at(part_weights.T, group, dense.T)
        parts = part_weights.argmax(axis=1).astype(np.int8)
        for array in (faces, weld, uv_ids, dense, parts):
            array.flags.writeable = False
        _TOPOLOGY[key] = (faces, weld, uv_ids, dense, parts, model)  # keeps id(model) unique
    return _TOPOLOGY[key][:5]


def anny_body(
    shape: dict[str, float],
    pose: Pose | np.ndarray,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Body:
    """An Anny body of ``shape`` (``SHAPE_KEYS`` values in [0, 1]) in ``pose``.

    ``pose`` is a :class:`Pose` or, as a fitted body gives it, (J, 4, 4) Anny "local-ref"
    delta transforms (``BodyFit.anny_pose_deltas``).

    ``shape`` may give ``stature`` (cm) instead of ``height``: the height parameter is then
    fitted to it (:func:`fit_stature`).

    Placement: the rest and the posed bodies each stand on y = 0 (their lowest vertex) with
    the root joint (pelvis) at x = z = 0; ``Body.transforms`` include these translations.
    ``Body.info`` keeps the Anny inputs: ``shape``, ``pose_deltas`` (J, 4, 4) and
    ``anny_to_subject`` (4, 4): subject = anny_to_subject @ [100 p_anny; 1] for the posed mesh,
    ``rest_heads`` (J, 3): every bone's head in the rest placement (cm), and ``ref_heads``
    (J, 3): in the reference pose the pose parameters rotate from (cm, subject axes, Anny's
    origin; ``joint_rotations`` measures its angles there).
    """
    import torch

    model = load_anny(cache_dir)
    labels = list(model.bone_labels)
    shape = {k: float(v) for k, v in shape.items()}
    if "stature" in shape:
        stature = shape.pop("stature")
        shape["height"] = fit_stature(model, shape, stature)
    rest_out = rest_model(model, shape)
    with torch.no_grad():
        rest_poses = rest_out["rest_bone_poses"]
        _, ref_poses = model.get_bone_transforms(None, rest_poses)
        ref_heads = 100.0 * ref_poses[0, :, :3, 3].numpy() @ ANNY_TO_SUBJECT.T
        ref_joints = {k: ref_heads[labels.index(b)] for k, b in JOINT_BONES.items()}
        if isinstance(pose, Pose):
            deltas = pose_deltas(pose, ref_joints, labels)
        else:
            deltas = np.asarray(pose, np.float64)
        transforms, _ = model.get_bone_transforms(
            torch.as_tensor(deltas, dtype=rest_poses.dtype)[None], rest_poses
        )
        rest_anny = rest_out["rest_vertices"][0].numpy()
        rest_heads = rest_out["rest_bone_heads"][0].numpy()
    faces, weld, uv_ids, dense, parts = _topology(model)
    rest = 100.0 * rest_anny @ ANNY_TO_SUBJECT.T
    heads = 100.0 * rest_heads @ ANNY_TO_SUBJECT.T
    t_subject = _subject_transforms(transforms[0].numpy())
    posed = skin(rest, dense, t_subject)
    root = labels.index("root")
    rest_offset = np.array([-heads[root, 0], -rest[:, 1].min(), -heads[root, 2]])
    posed_root = t_subject[root, :3, :3] @ heads[root] + t_subject[root, :3, 3]
    posed_offset = np.array([-posed_root[0], -posed[:, 1].min(), -posed_root[2]])
    rest, posed, heads = rest + rest_offset, posed + posed_offset, heads + rest_offset
    t_subject[:, :3, 3] += posed_offset - rest_offset @ np.transpose(
        t_subject[:, :3, :3], (0, 2, 1)
    )
    rest_joints = {k: heads[labels.index(b)] for k, b in JOINT_BONES.items()}
    joints = {
        k: t_subject[labels.index(b), :3, :3] @ p + t_subject[labels.index(b), :3, 3]
        for (k, b), p in zip(JOINT_BONES.items(), rest_joints.values(), strict=True)
    }
    arm_t, leg_t = limb_fields(rest, parts, rest_joints)
    to_subject = np.eye(4)
    to_subject[:3, :3] = ANNY_TO_SUBJECT
    to_subject[:3, 3] = posed_offset
    return Body(
        rest_vertices=rest[weld],
        vertices=posed[weld],
        faces=faces.copy(),
        uv=model.texture_coordinates.numpy()[uv_ids].astype(np.float64),
        weld=weld.copy(),
        weights=dense[weld],
        transforms=t_subject,
        parts=parts[weld],
        arm_t=arm_t[weld],
        leg_t=leg_t[weld],
        rest_joints=rest_joints,
        joints=joints,
        bone_labels=labels,
        bone_parents=[int(p) for p in model.bone_parents],
        info={
            "shape": dict(shape),
            "pose_deltas": deltas,
            "anny_to_subject": to_subject,
            "rest_heads": heads,
            "ref_heads": ref_heads,
        },
    )
