"""Side views of walkers: the legs relabelled when they swing with the arms on the same side."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body import gait
from pifuhd.body.detect import PersonLandmarks


def _walker(near_ankle_x: float, far_ankle_x: float, frontal: bool = False) -> PersonLandmarks:
    """A person seen from the side, walking toward the image's left, their left side nearer
    the camera. Image pixels (x right, y down): hips and shoulders at x = 100, torso 100 px;
    the near (left) wrist 15 px behind its shoulder, the far one 15 px ahead."""
    xy = np.zeros((33, 2))
    xy[0] = (90, 150)  # nose ahead of the ears: walking toward -x
    xy[7] = xy[8] = (100, 150)
    xy[[11, 12]] = (100, 200)
    xy[[23, 24]] = (100, 300)
    xy[15], xy[16] = (115, 280), (85, 280)
    xy[27], xy[28] = (near_ankle_x, 480), (far_ankle_x, 480)
    xy[25], xy[26] = (0.5 * (100 + near_ankle_x), 390), (0.5 * (100 + far_ankle_x), 390)
    world = np.zeros((33, 3))
    world[11], world[12] = (0, -0.5, -0.2), (0, -0.5, 0.2)  # the left shoulder nearer
    world[23], world[24] = (0, 0, -0.1), (0, 0, 0.1)
    if frontal:  # the same shoulders and hips spread across the image instead
        world[[11, 12, 23, 24]] = [(0.2, -0.5, 0), (-0.2, -0.5, 0), (0.1, 0, 0), (-0.1, 0, 0)]
    world[27], world[28] = (0, 0.9, -0.1), (0, 0.9, 0.1)
    return PersonLandmarks(
        image_xy=xy,
        visibility=np.linspace(0.0, 1.0, 33),
        presence=np.ones(33),
        world=world,
        mask=np.zeros((4, 4), np.float32),
        score=1.0,
        image_z=np.arange(33.0),
    )


def test_leg_swapped_moves_only_the_legs() -> None:
    person = _walker(60, 140)
    out = gait.leg_swapped(person)
    np.testing.assert_array_equal(out.image_xy[27], person.image_xy[28])
    np.testing.assert_array_equal(out.image_xy[26], person.image_xy[25])
    np.testing.assert_array_equal(out.world[28], person.world[27])
    assert out.visibility[31] == pytest.approx(person.visibility[32])
    assert out.image_z[29] == 30 and out.image_z[30] == 29
    np.testing.assert_array_equal(out.image_xy[:25], person.image_xy[:25])
    np.testing.assert_array_equal(out.image_xy[[15, 16, 11, 12]], person.image_xy[[15, 16, 11, 12]])


def test_near_leg_forward_with_near_arm_back_is_kept() -> None:
    person = _walker(near_ankle_x=60, far_ankle_x=140)  # stride 0.8 torsos, arm -0.3
    assert not gait.swing_conflict(person.image_xy, person.world)
    out, did = gait.gait_corrected(person)
    assert not did and out is person


def test_near_leg_back_with_near_arm_back_is_relabelled() -> None:
    person = _walker(near_ankle_x=140, far_ankle_x=60)
    assert gait.swing_conflict(person.image_xy, person.world)
    out, did = gait.gait_corrected(person)
    assert did
    assert out.image_xy[27, 0] == 60 and out.image_xy[28, 0] == 140
    assert not gait.swing_conflict(out.image_xy, out.world)  # relabelled once, then consistent


def test_short_steps_small_swings_and_frontal_views_are_left_alone() -> None:
    short = _walker(near_ankle_x=108, far_ankle_x=92)  # a step of 0.16 torsos
    assert not gait.swing_conflict(short.image_xy, short.world)
    still = _walker(near_ankle_x=140, far_ankle_x=60)
    still.image_xy[15, 0], still.image_xy[16, 0] = 104, 96  # arms 0.08 torsos apart
    assert not gait.swing_conflict(still.image_xy, still.world)
    frontal = _walker(near_ankle_x=140, far_ankle_x=60, frontal=True)
    assert not gait.swing_conflict(frontal.image_xy, frontal.world)
