"""BVH motion capture: parsing, forward kinematics, retargeting onto Anny, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pifuhd.avatar.bvh import parse_bvh, read_bvh, world_positions
from pifuhd.errors import InputError

# A small CMU-style skeleton (y up, facing +z, the performer's left at +x), cm.
HIERARCHY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT LeftUpLeg { OFFSET 9 -4 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftLeg { OFFSET 0 -42 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftFoot { OFFSET 0 -40 0 CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT LeftToeBase { OFFSET 0 -6 13 CHANNELS 3 Zrotation Xrotation Yrotation
          End Site { OFFSET 0 0 5 } } } } }
  JOINT RightUpLeg { OFFSET -9 -4 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT RightLeg { OFFSET 0 -42 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightFoot { OFFSET 0 -40 0 CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT RightToeBase { OFFSET 0 -6 13 CHANNELS 3 Zrotation Xrotation Yrotation
          End Site { OFFSET 0 0 5 } } } } }
  JOINT Spine { OFFSET 0 10 0 CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Neck { OFFSET 0 45 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT Head { OFFSET 0 10 0 CHANNELS 3 Zrotation Xrotation Yrotation
        End Site { OFFSET 0 15 0 } } }
    JOINT LeftArm { OFFSET 18 40 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftForeArm { OFFSET 28 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT LeftHand { OFFSET 25 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
          End Site { OFFSET 8 0 0 } } } }
    JOINT RightArm { OFFSET -18 40 0 CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightForeArm { OFFSET -28 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT RightHand { OFFSET -25 0 0 CHANNELS 3 Zrotation Xrotation Yrotation
          End Site { OFFSET -8 0 0 } } } }
  }
}
"""
NAMES = ["Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg",
         "RightFoot", "RightToeBase", "Spine", "Neck", "Head", "LeftArm", "LeftForeArm",
         "LeftHand", "RightArm", "RightForeArm", "RightHand"]  # fmt: skip
DIRECTION_TOL_DEG = 1.0
"""Anny's limb segments against the performer's (measured: 0.0 degrees to two decimals)."""


def bvh_text(frames: list[dict[str, tuple[float, float, float]]], root_moves: list[tuple]) -> str:
    """Motion lines for ``frames`` (joint -> (z, x, y) degrees; others zero)."""
    lines = []
    for rotations, move in zip(frames, root_moves, strict=True):
        values = list(move)
        for name in NAMES:
            values += list(rotations.get(name, (0.0, 0.0, 0.0)))
        lines.append(" ".join(f"{v:.4f}" for v in values))
    return HIERARCHY + f"MOTION\nFrames: {len(lines)}\nFrame Time: 0.0333333\n" + "\n".join(lines)


FRAMES = [
    {"LeftArm": (-80.0, 0.0, 0.0), "RightArm": (80.0, 0.0, 0.0)},  # arms down at the sides
    {
        "Hips": (0.0, 0.0, 30.0),  # turned 30 degrees to its left
        "LeftArm": (-60.0, 0.0, -40.0),  # down and forward
        "LeftForeArm": (0.0, 0.0, -70.0),  # elbow bent forward
        "RightArm": (40.0, 0.0, 0.0),  # raised above the shoulder
        "LeftUpLeg": (0.0, -35.0, 0.0),  # thigh forward
        "LeftLeg": (0.0, 50.0, 0.0),  # knee bent
        "Spine": (0.0, 10.0, 0.0),  # a slight bow
    },
]
MOVES = [(0.0, 90.0, 0.0), (0.0, 90.0, 40.0)]


def test_bvh_forward_kinematics_places_joints() -> None:
    motion = parse_bvh(bvh_text(FRAMES, MOVES))
    assert motion.frames == 2 and motion.frame_time == pytest.approx(1 / 30, rel=1e-4)
    world = world_positions(motion)
    hand = world[0, motion.index("LeftHand")]
    # arms down: shoulder at (18, 140, 0), the arm turned -80 degrees about z
    expected = np.array([18, 140, 0]) + 53.0 * np.array(
        [np.cos(np.radians(-80)), np.sin(np.radians(-80)), 0.0]
    )
    np.testing.assert_allclose(hand, expected, atol=1e-6)
    assert world[1, motion.index("Hips")][2] == pytest.approx(40.0)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def test_retargeted_avatar_points_its_limbs_like_the_performer(anny_cache: None) -> None:
    """Each limb segment of the Anny body posed by the retargeted frame points within a
    degree of the performer's, and the hips' travel is scaled by the leg lengths."""
    from pifuhd.avatar.retarget import JOINTS, joint_tracks, retarget
    from pifuhd.body.anny import anny_body
    from pifuhd.body.poses import Pose

    shape = {"gender": 0.6, "age": 0.6, "height": 0.4}
    motion = parse_bvh(bvh_text(FRAMES, MOVES))
    moved = retarget(motion, shape)
    assert moved.transforms.shape[:2] == (2, 104)
    tracks = joint_tracks(motion, "test")
    body = anny_body(shape, Pose("reference"))
    segments = [
        (f"{a}.{s}", f"{b}.{s}")
        for s in "LR"
        for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"))
    ]
    for k in range(2):
        t = moved.transforms[k]
        joints = {n: t[i, :3, :3] @ body.rest_joints[n] + t[i, :3, 3] for n, i in
                  _joint_bones(body).items()}  # fmt: skip
        for a, b in segments:
            ours, theirs = joints[b] - joints[a], tracks[b][k] - tracks[a][k]
            assert _angle(ours, theirs) < DIRECTION_TOL_DEG, (k, a, b, _angle(ours, theirs))
    assert set(JOINTS) >= {"hip.L", "toe.R", "head"}
    # the bent knee of frame 1 is bent in Anny too
    t = moved.transforms[1]
    j = {n: t[i, :3, :3] @ body.rest_joints[n] + t[i, :3, 3] for n, i in _joint_bones(body).items()}
    knee = _angle(j["knee.L"] - j["hip.L"], j["ankle.L"] - j["knee.L"])
    assert knee == pytest.approx(50.0, abs=5.0)
    travel = t[0, 2, 3] - moved.transforms[0][0, 2, 3]
    assert travel == pytest.approx(40.0 * leg_ratio(body, tracks), rel=1e-6)  # measured 38.4


def leg_ratio(body, tracks: dict[str, np.ndarray]) -> float:
    """Anny's reference leg length over the performer's at the first frame."""
    from pifuhd.body.anny import JOINT_BONES

    heads = np.asarray(body.info["ref_heads"])
    ref = {n: heads[body.bone_labels.index(JOINT_BONES[n])] for n in ("hip.L", "knee.L", "ankle.L")}
    ours = np.linalg.norm(ref["knee.L"] - ref["hip.L"]) + np.linalg.norm(
        ref["ankle.L"] - ref["knee.L"]
    )
    theirs = np.linalg.norm(tracks["knee.L"][0] - tracks["hip.L"][0]) + np.linalg.norm(
        tracks["ankle.L"][0] - tracks["knee.L"][0]
    )
    return float(ours / theirs)


def _joint_bones(body) -> dict[str, int]:
    from pifuhd.body.anny import JOINT_BONES

    return {n: body.bone_labels.index(b) for n, b in JOINT_BONES.items()}


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n", "it ends early"),
        ("MOTION\n", "no HIERARCHY"),
        (HIERARCHY.replace("3 Zrotation Xrotation Yrotation", "3 Zrot Xrot Yrot", 1),
         "unknown channel 'Zrot'"),
        (bvh_text(FRAMES, MOVES).rsplit(" ", 1)[0], "values for 2 frames of 57 channels"),
        (bvh_text(FRAMES, MOVES).replace("0.0000", "zero", 1), "a motion value is not a number"),
    ],
    ids=["truncated", "no-hierarchy", "bad-channel", "short-motion", "not-a-number"],
)  # fmt: skip
def test_malformed_bvh_is_a_one_line_error(text: str, what: str, tmp_path: Path) -> None:
    path = tmp_path / "take.bvh"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_bvh(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not a readable BVH file (") and what in message
    assert "\n" not in message


def test_a_skeleton_without_legs_is_refused(anny_cache: None) -> None:
    from pifuhd.avatar.retarget import retarget

    text = bvh_text(FRAMES, MOVES).replace("LeftUpLeg", "LeftThigh")
    with pytest.raises(InputError, match="no joint named like 'leftupleg'"):
        retarget(parse_bvh(text, "thigh.bvh"), {}, source="thigh.bvh")
