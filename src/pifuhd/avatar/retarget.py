"""Motion capture (BVH) onto an Anny avatar, by limb directions.

Each frame's joint positions (``pifuhd.avatar.bvh.world_positions``) give, per body segment,
a direction in the world; the avatar's bones are turned so that its segments point the same
way (``swing``), parents first, with the upper limbs' and thighs' twist taken from where the
next segment points. Bone lengths stay the avatar's own, so any skeleton with the usual joints
works (CMU, Mixamo and most BVH exports name them ``LeftUpLeg``, ``LeftLeg``, ``LeftFoot``,
``LeftToeBase``, ``LeftArm``, ``LeftForeArm``, ``LeftHand``, ``Neck``, ``Head``; a prefix
such as ``mixamorig:`` is ignored). The hips' horizontal travel is kept, scaled by the ratio
of leg lengths; each frame stands on the floor (y = 0), so jumps are lost.

Frames: the BVH is taken as y up (the format's usual convention) and turned so that the
performer faces +z at the first frame; the avatar is in the synthetic-person frame (cm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pifuhd.avatar.bvh import Motion, world_positions
from pifuhd.body.poses import rotation, swing
from pifuhd.errors import InputError

JOINTS = {
    "hip.L": "leftupleg", "hip.R": "rightupleg",
    "knee.L": "leftleg", "knee.R": "rightleg",
    "ankle.L": "leftfoot", "ankle.R": "rightfoot",
    "toe.L": "lefttoebase", "toe.R": "righttoebase",
    "shoulder.L": "leftarm", "shoulder.R": "rightarm",
    "elbow.L": "leftforearm", "elbow.R": "rightforearm",
    "wrist.L": "lefthand", "wrist.R": "righthand",
    "neck": "neck", "head": "head",
}  # fmt: skip
"""Our joint -> the BVH joint name it reads (lower case, any ``prefix:`` removed)."""
TOE_BONES = {"toe.L": "toe2-1.L", "toe.R": "toe2-1.R"}
"""Anny bones whose heads stand for the toes (the ball of the foot)."""
TWIST_MIN = 0.25
"""A limb's twist is read from the next segment only when that segment bends off the limb's
axis by more than this (sine of the bend): a straight limb says nothing of its twist."""
MAX_FPS = 30.0


@dataclass
class Retargeted:
    """Bone transforms of an avatar following a motion.

    Attributes:
        transforms: (K, J, 4, 4) rest -> posed per frame (cm, subject frame).
        times: (K,) seconds.
    """

    transforms: np.ndarray
    times: np.ndarray


def _key(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def joint_tracks(motion: Motion, source: object) -> dict[str, np.ndarray]:
    """Our joint -> (K, 3) positions, the BVH turned to y up facing +z (module docstring).

    Raises:
        InputError: a needed joint is missing (named).
    """
    lookup = {_key(n): i for i, n in enumerate(motion.names)}
    missing = [b for b in JOINTS.values() if b not in lookup]
    if missing:
        raise InputError(
            f"{source}: the BVH skeleton has no joint named like {missing[0]!r}; retargeting "
            f"needs {', '.join(sorted(set(JOINTS.values())))}"
        )
    world = world_positions(motion)
    tracks = {ours: world[:, lookup[theirs]] for ours, theirs in JOINTS.items()}
    left = tracks["hip.L"][0] - tracks["hip.R"][0]
    left[1] = 0.0
    if np.linalg.norm(left) < 1e-9:
        raise InputError(f"{source}: the hips have no width at the first frame")
    left /= np.linalg.norm(left)
    up = np.array([0.0, 1.0, 0.0])
    turn = np.stack([left, up, np.cross(left, up)])  # rows: the new x, y, z
    return {k: v @ turn.T for k, v in tracks.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _twist(axis: np.ndarray, have: np.ndarray, want: np.ndarray) -> np.ndarray:
    """(3, 3) rotation about ``axis`` taking the part of ``have`` across it to ``want``'s."""
    a = _unit(axis)
    h, w = have - (have @ a) * a, want - (want @ a) * a
    if min(np.linalg.norm(h), np.linalg.norm(w)) < TWIST_MIN:
        return np.eye(3)
    h, w = _unit(h), _unit(w)
    angle = np.degrees(np.arctan2(np.cross(h, w) @ a, h @ w))
    return rotation(a, float(angle))


def _chain(parent: np.ndarray, ref: list[np.ndarray], want: list[np.ndarray]) -> list[np.ndarray]:
    """Local rotations of a two- or three-segment limb under world rotation ``parent``:
    segment i (reference direction ``ref[i]``) turned to world direction ``want[i]``."""
    out, world = [], parent
    for i, (r, w) in enumerate(zip(ref, want, strict=True)):
        local_want = world.T @ w
        rot = swing(r, local_want)
        if i + 1 < len(ref) and i == 0:
            rot = _twist(local_want, rot @ ref[i + 1], world.T @ want[i + 1]) @ rot
        out.append(rot)
        world = world @ rot
    return out


def frame_rotations(
    tracks: dict[str, np.ndarray], k: int, ref: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(root rotation, generic bone -> local rotation) of frame ``k`` (``rotation_deltas``'
    inputs); ``ref`` holds the avatar's reference-pose joints (cm)."""
    p = {name: track[k] for name, track in tracks.items()}
    left = _unit(p["hip.L"] - p["hip.R"])
    up = _unit(np.array([0.0, 1.0, 0.0]) - left[1] * left)
    root = np.stack([left, up, np.cross(left, up)], axis=1)
    centre, ref_centre = 0.5 * (p["hip.L"] + p["hip.R"]), 0.5 * (ref["hip.L"] + ref["hip.R"])
    ref_spine, want_spine = ref["neck"] - ref_centre, root.T @ (p["neck"] - centre)
    torso = swing(ref_spine, want_spine)
    shoulders = root.T @ (p["shoulder.L"] - p["shoulder.R"])
    torso = _twist(want_spine, torso @ (ref["shoulder.L"] - ref["shoulder.R"]), shoulders) @ torso
    rots = {"torso": torso}
    upper = root @ torso
    rots["neck"] = swing(ref["head"] - ref["neck"], upper.T @ (p["head"] - p["neck"]))
    for s in "LR":
        arm = _chain(
            upper,
            [ref[f"elbow.{s}"] - ref[f"shoulder.{s}"], ref[f"wrist.{s}"] - ref[f"elbow.{s}"]],
            [p[f"elbow.{s}"] - p[f"shoulder.{s}"], p[f"wrist.{s}"] - p[f"elbow.{s}"]],
        )
        rots[f"upperarm.{s}"], rots[f"lowerarm.{s}"] = arm
        leg = _chain(
            root,
            [ref[f"knee.{s}"] - ref[f"hip.{s}"], ref[f"ankle.{s}"] - ref[f"knee.{s}"],
             ref[f"toe.{s}"] - ref[f"ankle.{s}"]],
            [p[f"knee.{s}"] - p[f"hip.{s}"], p[f"ankle.{s}"] - p[f"knee.{s}"],
             p[f"toe.{s}"] - p[f"ankle.{s}"]],
        )  # fmt: skip
        rots[f"upperleg.{s}"], rots[f"lowerleg.{s}"], rots[f"foot.{s}"] = leg
    return root, rots


def retarget(
    motion: Motion,
    shape: dict[str, float],
    source: object = "<bvh>",
    max_seconds: float = 20.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Retargeted:
    """The avatar of Anny ``shape`` following ``motion`` (at most ``MAX_FPS`` keyframes a
    second and ``max_seconds`` long).

    Raises:
        InputError: the skeleton lacks a needed joint (``source`` named).
    """
    from pifuhd.body.anny import JOINT_BONES, anny_body, load_anny, rotation_deltas
    from pifuhd.body.poses import Pose

    tracks = joint_tracks(motion, source)
    step = max(1, round(1.0 / (MAX_FPS * motion.frame_time)))
    frames = np.arange(0, min(motion.frames, int(max_seconds / motion.frame_time) + 1), step)
    base = anny_body(shape, Pose("reference"), cache_dir)
    labels = list(load_anny(cache_dir).bone_labels)
    heads = np.asarray(base.info["ref_heads"])
    ref = {k: heads[labels.index(b)] for k, b in JOINT_BONES.items()}
    ref |= {k: heads[labels.index(b)] for k, b in TOE_BONES.items()}
    ref_leg = np.linalg.norm(ref["knee.L"] - ref["hip.L"]) + np.linalg.norm(
        ref["ankle.L"] - ref["knee.L"]
    )
    their_leg = np.linalg.norm(tracks["knee.L"][0] - tracks["hip.L"][0]) + np.linalg.norm(
        tracks["ankle.L"][0] - tracks["knee.L"][0]
    )
    scale = ref_leg / max(float(their_leg), 1e-9)
    centre = 0.5 * (tracks["hip.L"] + tracks["hip.R"])
    out = []
    for k in frames:
        root, rots = frame_rotations(tracks, int(k), ref)
        transforms = anny_body(shape, rotation_deltas(rots, labels, root), cache_dir).transforms
        travel = scale * (centre[k] - centre[0])
        transforms[:, [0, 2], 3] += travel[[0, 2]]
        out.append(transforms)
    return Retargeted(np.stack(out), frames * motion.frame_time)
