"""Skinned avatars from a rest-pose mesh, its skinning weights and a pose.

Inputs are in the synthetic-person frame (centimetres, y up, facing +z); the avatar is in
the avatar frame (:mod:`pifuhd.avatar.rig`: the same axes in metres).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pifuhd.avatar.gltf import Clip, SkinnedAvatar
from pifuhd.avatar.motion import CM_TO_M, anny_rig, builtin_clip, metres
from pifuhd.avatar.rig import Rig, local_poses, top_influences
from pifuhd.errors import PifuhdError


def skinned_avatar(
    rig: Rig,
    rest_vertices: np.ndarray,
    faces: np.ndarray,
    weights: np.ndarray,
    transforms: np.ndarray,
    colors: np.ndarray | None = None,
    clips: list[Clip] | None = None,
    extras: dict | None = None,
) -> SkinnedAvatar:
    """An avatar shown in the pose of ``transforms``.

    Args:
        rig: the skeleton (metres). rest_vertices: (V, 3) cm. faces: (F, 3).
        weights: (V, J) skinning weights (any number of influences; the four largest are
            kept). transforms: (J, 4, 4) rigid bone transforms, rest -> posed, cm.
        colors: (V, 3) in [0, 1] or None. clips, extras: as :class:`SkinnedAvatar`.
    """
    joints, values = top_influences(np.asarray(weights, np.float64))
    return SkinnedAvatar(
        rig=rig,
        vertices=CM_TO_M * np.asarray(rest_vertices, np.float64),
        faces=np.asarray(faces, np.int64),
        joints=joints,
        weights=values,
        pose=local_poses(rig, metres(transforms)),
        colors=colors,
        clips=list(clips or []),
        extras=dict(extras or {}),
    )


def _texture_colors(folder: Path, uv: np.ndarray) -> np.ndarray | None:
    from PIL import Image

    path = folder / "texture.png"
    if not path.exists():
        return None
    with Image.open(path) as im:
        tex = np.asarray(im.convert("RGB"), np.float64) / 255.0
    h, w = tex.shape[:2]
    col = np.clip(np.round(uv[:, 0] * (w - 1)), 0, w - 1).astype(int)
    row = np.clip(np.round((1.0 - uv[:, 1]) * (h - 1)), 0, h - 1).astype(int)
    return tex[row, col]


def person_avatar(
    folder: str | os.PathLike[str],
    motions: tuple[str, ...] = ("walk",),
    frames: int = 24,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SkinnedAvatar:
    """The true avatar of a synthetic person folder (``pifuhd synth``): its clothed rest-pose
    mesh, its own skinning and pose, texture colours per vertex, and built-in ``motions``.

    Raises:
        PifuhdError: the folder lacks ``rest.obj`` / ``avatar.npz`` / ``person.json``.
    """
    import trimesh

    from pifuhd.synth.person_io import dense_weights

    root = Path(folder)
    missing = [n for n in ("rest.obj", "avatar.npz", "person.json") if not (root / n).exists()]
    if missing:
        raise PifuhdError(
            f"{root}: not a synthetic person folder (missing {', '.join(missing)}; "
            "make one with `pifuhd synth`)"
        )
    rest = trimesh.load(root / "rest.obj", process=False, force="mesh")
    arrays = np.load(root / "avatar.npz")
    shape = json.loads((root / "person.json").read_text())["body"]["anny_shape"]
    rig = anny_rig(shape, cache_dir)
    labels = [str(s) for s in arrays["bone_labels"]]
    if labels != list(rig.labels):
        raise PifuhdError(f"{root}: its bones are not this Anny version's rig")
    weights = dense_weights(arrays["skin_indices"], arrays["skin_weights"], len(labels))
    uv = np.asarray(rest.visual.uv) if hasattr(rest.visual, "uv") else None
    colors = None if uv is None else _texture_colors(root, uv)
    clips = [builtin_clip(m, shape, rig, frames, cache_dir) for m in motions]
    return skinned_avatar(
        rig,
        np.asarray(rest.vertices),
        np.asarray(rest.faces),
        weights,
        arrays["bone_transforms"],
        colors=colors,
        clips=clips,
        extras={"body_model": "anny", "anny_shape": shape, "source": root.name},
    )
