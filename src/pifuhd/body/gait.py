"""Walking people seen from the side: MediaPipe's legs relabelled by the arms' counter-swing.

From the side, which leg is forward cannot be told from the leg's outline alone, and MediaPipe
Pose often labels the near leg as the back one when it is the front one (20 synthetic walking
people at yaws 45-315, session 23: 17 of 240 views, 8 of them at yaw 90). Its world landmarks
make the same mistake, so the landmark depths and the fit follow it, and the fitted stride
comes out crossed or collapsed (one leg's landmarks pulled to the other's depth).

Its arms, though, are labelled right in those views (the near arm is seen whole), and a
walking person swings each arm opposite to the leg on the same side (a near arm behind the
body goes with a near leg in front). Where the person is seen from the side, the stride is
clear and the near arm's swing, relative to the far arm's, agrees with the near leg's, the leg
labels are swapped (:func:`gait_corrected`). All in MediaPipe's image landmarks, x right; the
near side from its world depths. A person striding with the arm on the same side forward (not
a walking gait) is turned the wrong way by this rule.
"""

from __future__ import annotations

import numpy as np

from pifuhd.body.detect import PersonLandmarks
from pifuhd.body.facing import relabelled, torso_facing

LEG_PAIRS = ((25, 26), (27, 28), (29, 30), (31, 32))
"""MediaPipe (left, right) pairs of the legs: knees, ankles, heels, big toes."""

SIDE_FACING = 0.5
"""|z| of MediaPipe's unit torso normal at or below which the person is seen from the side."""

STRIDE_TORSO = 0.2
"""Smallest stride (near ankle ahead of the far one, relative to their hips, along the walking
direction) counted as a step, in torso lengths (mid-shoulders to mid-hips in the image)."""

ARM_TORSO = 0.1
"""Smallest swing of the near wrist relative to the far one (each from its shoulder) counted
as an arm swing, in torso lengths."""

NEAR = {"L": (11, 15, 23, 27), "R": (12, 16, 24, 28)}
"""Side -> MediaPipe (shoulder, wrist, hip, ankle)."""


def leg_swapped(person: PersonLandmarks) -> PersonLandmarks:
    """The same detection with the left and right legs' landmarks exchanged (arms, torso and
    head as they were)."""
    index = np.arange(33)
    for a, b in LEG_PAIRS:
        index[a], index[b] = b, a
    return relabelled(person, index)


def swing_conflict(image_xy: np.ndarray, world: np.ndarray) -> bool:
    """Whether a side view's near leg and near arm swing the same way (a walking gait swings
    them opposite).

    Args:
        image_xy: (33, 2) MediaPipe image landmarks, x right, y down (any unit).
        world: (33, 3) MediaPipe world landmarks, z away from the camera.
    """
    if abs(torso_facing(world)) > SIDE_FACING:
        return False
    torso = np.linalg.norm(
        0.5 * (image_xy[11] + image_xy[12]) - 0.5 * (image_xy[23] + image_xy[24])
    )
    forward = np.sign(image_xy[0, 0] - 0.5 * (image_xy[7, 0] + image_xy[8, 0]))
    if torso < 1e-9 or forward == 0:
        return False
    near_left = world[11, 2] + world[23, 2] < world[12, 2] + world[24, 2]
    n, f = (NEAR["L"], NEAR["R"]) if near_left else (NEAR["R"], NEAR["L"])
    x = image_xy[:, 0] * forward / torso
    arm = (x[n[1]] - x[n[0]]) - (x[f[1]] - x[f[0]])
    stride = (x[n[3]] - x[n[2]]) - (x[f[3]] - x[f[2]])
    return bool(abs(stride) > STRIDE_TORSO and abs(arm) > ARM_TORSO and arm * stride > 0)


def gait_corrected(person: PersonLandmarks) -> tuple[PersonLandmarks, bool]:
    """The detection with its legs relabelled where the arms' swing contradicts them
    (:func:`swing_conflict`); and whether they were."""
    if swing_conflict(person.image_xy, np.asarray(person.world, np.float64)):
        return leg_swapped(person), True
    return person, False
