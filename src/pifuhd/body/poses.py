"""Body poses for synthetic people: named families, random variations, joint rotations.

A :class:`Pose` is a handful of anatomical angles (degrees). :func:`joint_rotations` turns it
into rotations of generic bones, in the synthetic-person frame (y up, facing +z, the person's
left at +x), relative to the body model's reference pose (arms about 45 degrees down, legs
straight), each about its joint and carried along by its parent bones. Body-model adapters map
the generic bones (``GENERIC_BONES``) to theirs.

Arm and leg directions are measured from hanging straight down: ``abduction`` swings the limb
sideways (90 = horizontal, T-pose), ``flexion`` forward (negative = backward).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

GENERIC_BONES = (
    "torso",
    "neck",
    "head",
    "upperarm.L",
    "upperarm.R",
    "lowerarm.L",
    "lowerarm.R",
    "upperleg.L",
    "upperleg.R",
    "lowerleg.L",
    "lowerleg.R",
    "foot.L",
    "foot.R",
)


@dataclass(frozen=True)
class ArmPose:
    """Angles of one arm, degrees: the upper arm's direction, its twist (positive turns the
    elbow's bending plane toward the body's midline), and the elbow's bend (0 = straight)."""

    abduction: float = 45.0
    flexion: float = 0.0
    twist: float = 0.0
    elbow: float = 10.0


@dataclass(frozen=True)
class LegPose:
    """Angles of one leg, degrees: the thigh's direction, the knee's bend (0 = straight) and
    the ankle's (positive points the toes down)."""

    abduction: float = 3.0
    flexion: float = 0.0
    knee: float = 0.0
    ankle: float = 0.0


@dataclass(frozen=True)
class Pose:
    """A whole-body pose: a name, both arms and legs (left, right), torso and head angles
    (degrees; yaw turns left, bend/pitch positive forward/down, side bend toward the left)."""

    name: str
    arms: tuple[ArmPose, ArmPose] = (ArmPose(), ArmPose())
    legs: tuple[LegPose, LegPose] = (LegPose(), LegPose())
    torso_yaw: float = 0.0
    torso_bend: float = 0.0
    torso_side: float = 0.0
    head_yaw: float = 0.0
    head_pitch: float = 0.0
    head_roll: float = 0.0
    tags: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """JSON-ready description (angles rounded to 0.1 degree)."""
        return _round(asdict(self))


ARM_FAMILIES = ("down", "a_pose", "t_pose", "raised", "forward", "akimbo", "wave", "bent")
LEG_FAMILIES = ("standing", "apart", "contrapposto")
POSE_FAMILIES = ("standing", "walking")


def _round(value):
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def sample_arm(rng: np.random.Generator, family: str, min_abduction: float) -> ArmPose:
    """One arm of ``family`` (see ``ARM_FAMILIES``) with random variation.

    ``min_abduction`` keeps hanging arms clear of wide hips, bellies and skirts.
    """
    u = rng.uniform
    if family == "down":
        return ArmPose(max(u(6, 16), min_abduction), u(-8, 12), u(-10, 20), u(5, 25))
    if family == "a_pose":
        return ArmPose(max(u(30, 50), min_abduction), u(-5, 10), u(-10, 10), u(0, 15))
    if family == "t_pose":
        return ArmPose(u(82, 95), u(-5, 10), u(-10, 10), u(0, 10))
    if family == "raised":
        return ArmPose(u(120, 165), u(0, 25), u(-10, 20), u(0, 30))
    if family == "forward":
        return ArmPose(u(5, 20), u(50, 90), u(0, 30), u(0, 40))
    if family == "akimbo":  # hands on the hips (checked against the body by the caller)
        return ArmPose(u(52, 62), u(-18, -10), u(55, 72), u(85, 100))
    if family == "wave":
        return ArmPose(u(75, 95), u(0, 20), u(-95, -80), u(70, 110))
    if family == "bent":
        return ArmPose(max(u(8, 20), min_abduction), u(10, 30), u(10, 40), u(60, 95))
    raise ValueError(f"unknown arm pose family {family!r} (use one of {', '.join(ARM_FAMILIES)})")


def sample_legs(rng: np.random.Generator, family: str) -> tuple[LegPose, LegPose]:
    """Both legs of a standing ``family`` (see ``LEG_FAMILIES``)."""
    u = rng.uniform
    if family == "standing":
        a = u(1, 5)
        return LegPose(a, u(-2, 3), u(0, 4)), LegPose(a + u(-1, 1), u(-2, 3), u(0, 4))
    if family == "apart":
        return LegPose(u(7, 12), u(-3, 5), u(0, 5)), LegPose(u(7, 12), u(-3, 5), u(0, 5))
    if family == "contrapposto":
        bent = LegPose(u(4, 9), u(4, 12), u(12, 22), u(0, 8))
        straight = LegPose(u(0, 3), u(-3, 0), u(0, 3))
        return (bent, straight) if rng.random() < 0.5 else (straight, bent)
    raise ValueError(f"unknown leg pose family {family!r} (use one of {', '.join(LEG_FAMILIES)})")


def sample_walking(rng: np.random.Generator, min_abduction: float, stride: float) -> Pose:
    """A walking phase: one leg forward, the other back on its toes, arms swinging opposite.

    ``stride`` in [0, 1] scales the hip angles (long skirts ask for short strides).
    """
    u = rng.uniform
    front = LegPose(u(2, 5), stride * u(15, 28), u(3, 12), u(-8, 0))
    back = LegPose(u(2, 5), -stride * u(8, 16), u(10, 28) * max(stride, 0.4), u(5, 20))
    swing = stride * u(12, 28)
    arm_front = ArmPose(max(u(6, 12), min_abduction), swing, u(0, 15), u(15, 35))
    arm_back = ArmPose(max(u(6, 12), min_abduction), -0.7 * swing, u(0, 15), u(5, 20))
    left_front = rng.random() < 0.5
    legs = (front, back) if left_front else (back, front)
    arms = (arm_back, arm_front) if left_front else (arm_front, arm_back)
    return Pose(
        "walking",
        arms=arms,
        legs=legs,
        torso_yaw=(-1 if left_front else 1) * u(0, 6),
        torso_bend=u(0, 5),
        head_yaw=u(-15, 15),
        head_pitch=u(-5, 10),
        tags=("walking",),
    )


def sample_pose(
    rng: np.random.Generator, *, min_abduction: float = 6.0, stride: float = 1.0
) -> Pose:
    """A random pose: standing (70 %) with a random arm family per side, or walking (30 %).

    Args:
        rng: the person's generator (the pose is a pure function of its state).
        min_abduction: smallest sideways angle of hanging arms (degrees).
        stride: walking stride scale in [0, 1].
    """
    if rng.random() < 0.3:
        return sample_walking(rng, min_abduction, stride)
    weights = np.array([0.28, 0.14, 0.09, 0.1, 0.08, 0.12, 0.08, 0.11])
    left = str(rng.choice(ARM_FAMILIES, p=weights / weights.sum()))
    right = (
        left if rng.random() < 0.45 else str(rng.choice(ARM_FAMILIES, p=weights / weights.sum()))
    )
    legs_family = str(rng.choice(LEG_FAMILIES, p=[0.45, 0.3, 0.25]))
    u = rng.uniform
    return Pose(
        f"{legs_family}/{left}+{right}",
        arms=(sample_arm(rng, left, min_abduction), sample_arm(rng, right, min_abduction)),
        legs=sample_legs(rng, legs_family),
        torso_yaw=u(-12, 12),
        torso_bend=u(-3, 6),
        torso_side=u(-4, 4),
        head_yaw=u(-25, 25),
        head_pitch=u(-10, 12),
        head_roll=u(-6, 6),
        tags=(legs_family, left, right),
    )


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """(3, 3) rotation by ``degrees`` about ``axis`` (right-handed, Rodrigues)."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = math.radians(degrees)
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


def swing(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation taking direction ``src`` to direction ``dst``."""
    s, d = src / np.linalg.norm(src), dst / np.linalg.norm(dst)
    axis = np.cross(s, d)
    sin, cos = np.linalg.norm(axis), float(s @ d)
    if sin < 1e-9:
        if cos > 0:
            return np.eye(3)
        ortho = np.cross(s, [1.0, 0.0, 0.0] if abs(s[0]) < 0.9 else [0.0, 1.0, 0.0])
        return rotation(ortho, 180.0)
    return rotation(axis, math.degrees(math.atan2(sin, cos)))


def limb_direction(side: float, abduction: float, flexion: float) -> np.ndarray:
    """(3,) unit direction of a limb ``abduction``/``flexion`` degrees from hanging down.

    ``side`` is +1 for the left (+x) limbs, -1 for the right.
    """
    a, f = math.radians(abduction), math.radians(flexion)
    return np.array([side * math.sin(a), -math.cos(a) * math.cos(f), math.cos(a) * math.sin(f)])


def joint_rotations(pose: Pose, joints: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rotations (3, 3) of the generic bones for ``pose``, in the frame of the module docstring.

    Args:
        pose: the pose.
        joints: reference-pose joint positions (cm) of ``body.JOINT_NAMES``.
    Returns:
        generic bone name (``GENERIC_BONES``) -> rotation about its joint, expressed in the
        reference pose's axes (the convention of Anny's "local-ref" pose parameters).
    """
    x, y, z = np.eye(3)
    out = {
        "torso": rotation(y, pose.torso_yaw)
        @ rotation(x, pose.torso_bend)
        @ rotation(z, -pose.torso_side),
        "neck": rotation(x, 0.3 * pose.head_pitch) @ rotation(y, 0.4 * pose.head_yaw),
        "head": rotation(y, 0.6 * pose.head_yaw)
        @ rotation(x, 0.7 * pose.head_pitch)
        @ rotation(z, pose.head_roll),
    }
    for side, sign, arm, leg in (
        ("L", 1.0, *[p[0] for p in (pose.arms, pose.legs)]),
        ("R", -1.0, *[p[1] for p in (pose.arms, pose.legs)]),
    ):
        shoulder, elbow, wrist = (joints[f"{n}.{side}"] for n in ("shoulder", "elbow", "wrist"))
        upper0, fore0 = elbow - shoulder, wrist - elbow
        target = limb_direction(sign, arm.abduction, arm.flexion)
        twist = rotation(target, sign * arm.twist)
        out[f"upperarm.{side}"] = twist @ swing(upper0, target)
        bend_axis = np.cross(upper0, fore0)
        if np.linalg.norm(bend_axis) < 1e-6 * np.linalg.norm(upper0) * np.linalg.norm(fore0):
            bend_axis = np.cross(upper0, z)
        current = math.degrees(_angle(upper0, fore0))
        out[f"lowerarm.{side}"] = rotation(bend_axis, arm.elbow - current)
        hip, knee = joints[f"hip.{side}"], joints[f"knee.{side}"]
        out[f"upperleg.{side}"] = swing(
            knee - hip, limb_direction(sign, leg.abduction, leg.flexion)
        )
        out[f"lowerleg.{side}"] = rotation(x, leg.knee)
        out[f"foot.{side}"] = rotation(x, leg.ankle)
    return out


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return math.atan2(np.linalg.norm(np.cross(a, b)), float(a @ b))
