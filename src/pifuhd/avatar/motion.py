"""Built-in animation clips for Anny-rigged avatars, made from the package's pose angles.

A clip is a loop of :class:`pifuhd.body.poses.Pose` keyframes (anatomical angles), posed on the
avatar's own Anny shape (so bone lengths match) and turned into glTF joint poses. The loops
are in place: each frame stands on y = 0 with the pelvis above the origin (as
:func:`pifuhd.body.anny.anny_body` places a body).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from pifuhd.avatar.gltf import Clip, read_avatar_glb, write_avatar_glb
from pifuhd.avatar.rig import Rig, local_poses
from pifuhd.body.poses import ArmPose, LegPose, Pose
from pifuhd.errors import InputError

CM_TO_M = 0.01


def walk_pose(phase: float) -> Pose:
    """One moment of an in-place walk, ``phase`` in [0, 1) (one full stride).

    The left thigh swings forward and back (-12 to +28 degrees about a slightly flexed mean),
    its knee bends most in mid-swing; the right leg runs half a cycle behind, each arm swings
    opposite its leg and the torso turns with the hips.
    """
    s = math.sin(2 * math.pi * phase)

    def leg(p: float) -> LegPose:
        swing = max(0.0, math.cos(2 * math.pi * p)) ** 2  # 1 at mid-swing
        return LegPose(
            abduction=3.0,
            flexion=8.0 + 20.0 * math.sin(2 * math.pi * p),
            knee=5.0 + 50.0 * swing,
            ankle=-5.0 * swing + 8.0 * max(0.0, -math.sin(2 * math.pi * p)),
        )

    def arm(sign: float) -> ArmPose:
        return ArmPose(
            abduction=10.0,
            flexion=-sign * 18.0 * s,
            twist=5.0,
            elbow=18.0 + 12.0 * max(0.0, -sign * s),
        )

    return Pose(
        "walk",
        arms=(arm(1.0), arm(-1.0)),
        legs=(leg(phase), leg(phase + 0.5)),
        torso_yaw=-4.0 * s,
        torso_bend=3.0,
        tags=("walk",),
    )


def wave_pose(phase: float) -> Pose:
    """One moment of a wave with the right hand: the upper arm held out sideways, the forearm
    upright and rocking +-25 degrees, ``phase`` in [0, 1)."""
    rock = 25.0 * math.sin(2 * math.pi * phase)
    return Pose(
        "wave",
        arms=(
            ArmPose(abduction=12.0, elbow=12.0),
            ArmPose(abduction=85.0, flexion=10.0, twist=-88.0, elbow=90.0 + rock),
        ),
        head_yaw=-8.0,
        tags=("wave",),
    )


CLIPS: dict[str, tuple[Callable[[float], Pose], float]] = {
    "walk": (walk_pose, 1.1),
    "wave": (wave_pose, 1.2),
}
"""Clip name -> (pose of a phase, seconds per loop)."""


def metres(transforms: np.ndarray) -> np.ndarray:
    """(J, 4, 4) bone transforms in centimetres -> the same in metres."""
    out = np.array(transforms, dtype=np.float64)
    out[..., :3, 3] *= CM_TO_M
    return out


def anny_rig(shape: dict[str, float], cache_dir: str | os.PathLike[str] | None = None) -> Rig:
    """The Anny rig of a body of ``shape`` in its rest placement (avatar frame, metres)."""
    from pifuhd.body.anny import anny_body

    body = anny_body(shape, Pose("rest"), cache_dir)
    return Rig(
        tuple(body.bone_labels),
        tuple(body.bone_parents),
        CM_TO_M * np.asarray(body.info["rest_heads"], np.float64),
    )


def pose_clip(
    name: str,
    poses: list[Pose],
    seconds: float,
    shape: dict[str, float],
    rig: Rig,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Clip:
    """A looping clip through ``poses`` over ``seconds`` (the first pose repeated at the end).

    Args:
        name: the clip's name; poses: K keyframes; seconds: the loop's length.
        shape: the avatar's Anny shape (``SHAPE_KEYS`` values); rig: its rig (:func:`anny_rig`).
    """
    from pifuhd.body.anny import anny_body

    frames = [local_poses(rig, metres(anny_body(shape, p, cache_dir).transforms)) for p in poses]
    frames.append(frames[0])
    times = np.linspace(0.0, seconds, len(frames))
    return Clip(
        name,
        times,
        np.stack([f[0] for f in frames]),
        np.stack([f[1] for f in frames]),
    )


def builtin_clip(
    name: str,
    shape: dict[str, float],
    rig: Rig,
    frames: int = 24,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Clip:
    """The built-in clip ``name`` (see ``CLIPS``) with ``frames`` keyframes per loop.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name not in CLIPS:
        raise ValueError(f"unknown motion {name!r} (built in: {', '.join(CLIPS)})")
    pose_of, seconds = CLIPS[name]
    poses = [pose_of(k / frames) for k in range(frames)]
    return pose_clip(name, poses, seconds, shape, rig, cache_dir)


RIG_TOL_M = 1e-4
"""How far an avatar's joints may sit from its shape's Anny rig (float32 in the file)."""


def add_motions(
    avatar_path: str | os.PathLike[str],
    motions: Sequence[str],
    out: str | os.PathLike[str],
    frames: int = 24,
) -> Path:
    """Read an avatar GLB written by ``pifuhd avatar``, add (or replace) ``motions`` posed on
    its own Anny shape (built-in names, or BVH files: :func:`bvh_clip`), and write it to
    ``out`` (atomically).

    Raises:
        InputError: the file is not a pifuhd Anny avatar (named in the message).
    """
    avatar = read_avatar_glb(avatar_path)
    shape = avatar.extras.get("anny_shape")
    if not isinstance(shape, dict):
        raise InputError(
            f"{avatar_path}: no Anny body shape in the file (asset.extras.pifuhd.anny_shape); "
            "animate avatars written by `pifuhd avatar`"
        )
    rig = anny_rig(shape)
    if rig.labels != avatar.rig.labels or np.abs(rig.heads - avatar.rig.heads).max() > RIG_TOL_M:
        raise InputError(
            f"{avatar_path}: its skeleton is not the Anny rig of its body shape; "
            "animate avatars written by `pifuhd avatar`"
        )
    new = [
        bvh_clip(m, shape, rig)
        if m.lower().endswith(".bvh")
        else builtin_clip(m, shape, rig, frames)
        for m in motions
    ]
    names = {c.name for c in new}
    avatar.clips = [c for c in avatar.clips if c.name not in names] + new
    return write_avatar_glb(avatar, out)


def bvh_clip(path: str | os.PathLike[str], shape: dict[str, float], rig: Rig) -> Clip:
    """A clip named after the BVH file's stem: its motion retargeted onto the Anny body of
    ``shape`` (``pifuhd.avatar.retarget``)."""
    from pifuhd.avatar.bvh import read_bvh
    from pifuhd.avatar.retarget import retarget

    moved = retarget(read_bvh(path), shape, source=path)
    frames = [local_poses(rig, metres(t)) for t in moved.transforms]
    return Clip(
        Path(path).stem,
        moved.times,
        np.stack([f[0] for f in frames]),
        np.stack([f[1] for f in frames]),
    )
