"""Side views of walkers: collapsed feet put back on the two feet the person mask shows."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body import feet
from tests.landmarks import seen_person


def _mask(feet_x: tuple[int, ...], width: int = 40) -> np.ndarray:
    """A (500, 300) person mask: a torso over x 80-120 down to y 300, legs down to y 480 ending
    in a foot blob (``width`` px) at each x of ``feet_x``."""
    mask = np.zeros((500, 300), bool)
    mask[100:300, 80:121] = True
    for x in feet_x:
        mask[300:481, x - width // 2 : x + width // 2] = True
    return mask


def _person(ankles: tuple[float, float], mask: np.ndarray, frontal: bool = False):
    """Seen from the side (left side nearer), hips and shoulders at x = 100, torso 100 px; the
    left and right ankles at the given x, knees at y 390 halfway to the hips."""
    xy = np.zeros((33, 2))
    xy[[11, 12]] = (100, 200)
    xy[[23, 24]] = (100, 300)
    for ankle, knee, heel, toe, x in ((27, 25, 29, 31, ankles[0]), (28, 26, 30, 32, ankles[1])):
        xy[ankle], xy[heel], xy[toe] = (x, 470), (x - 5, 478), (x + 15, 480)
        xy[knee] = (0.5 * (100 + x), 390)
    world = np.zeros((33, 3))
    world[11], world[12] = (0, -0.5, -0.2), (0, -0.5, 0.2)
    world[23], world[24] = (0, 0, -0.1), (0, 0, 0.1)
    if frontal:
        world[[11, 12, 23, 24]] = [(0.2, -0.5, 0), (-0.2, -0.5, 0), (0.1, 0, 0), (-0.1, 0, 0)]
    world[:, 0] += xy[:, 0] * 0.005  # 0.5 m per 100 px, like the torso
    return seen_person(xy, world, mask)


def test_foot_blobs_finds_the_two_feet_left_to_right() -> None:
    blobs = feet.foot_blobs(_mask((200, 60)))
    assert len(blobs) == 2
    assert blobs[0][:2] == (40.0, 80.0) and blobs[1][:2] == (180.0, 220.0)
    assert blobs[0][2] == pytest.approx(60.0) and blobs[1][2] == pytest.approx(200.0)
    assert len(feet.foot_blobs(_mask((95,), width=40))) == 1  # feet together: one blob
    assert feet.foot_blobs(_mask((200, 60))[:420]) == []  # cut by the lower border: no feet
    holed = _mask((100,), width=80)
    holed[470:481, 100:110] = False  # a hole splits the shoe in the lowest 11 rows (3 %)
    assert len(feet.foot_blobs(holed)) == 1


def test_collapsed_feet_move_onto_the_blobs_and_the_knees_spread() -> None:
    person = _person((110.0, 125.0), _mask((60, 200)))  # both ankles in the gap
    out, moved = feet.feet_placed(person)
    assert moved
    assert out.image_xy[27, 0] == pytest.approx(60.0)  # the left-most ankle to the left foot
    assert out.image_xy[28, 0] == pytest.approx(200.0)
    assert out.image_xy[29, 0] == pytest.approx(55.0) and out.image_xy[32, 0] == pytest.approx(215)
    # knees 105 and 112.5: spread to half the feet's 140 px about their midpoint 108.75
    assert out.image_xy[25, 0] == pytest.approx(108.75 - 35.0)
    assert out.image_xy[26, 0] == pytest.approx(108.75 + 35.0)
    np.testing.assert_array_equal(out.image_xy[:, 1], person.image_xy[:, 1])  # heights kept
    # the world landmarks move by the same amount in metres (0.5 m per torso of 100 px)
    assert out.world[27, 0] - person.world[27, 0] == pytest.approx(-50 * 0.005)
    np.testing.assert_array_equal(out.image_xy[:25], person.image_xy[:25])


def test_a_foot_on_its_blob_goes_to_its_centre_too() -> None:
    person = _person((62.0, 125.0), _mask((60, 200)))  # the left foot on the left blob
    out, moved = feet.feet_placed(person)
    assert moved
    assert out.image_xy[27, 0] == pytest.approx(60.0) and out.image_xy[29, 0] == pytest.approx(55)
    assert out.image_xy[28, 0] == pytest.approx(200.0)
    # knees spread to half of 200 - 60 about their midpoint (81 + 112.5) / 2
    assert out.image_xy[26, 0] - out.image_xy[25, 0] == pytest.approx(70.0)


def test_knees_already_apart_stay() -> None:
    person = _person((110.0, 125.0), _mask((60, 200)))
    person.image_xy[25, 0], person.image_xy[26, 0] = 70.0, 160.0  # 90 px apart: over 70
    out, moved = feet.feet_placed(person)
    assert moved
    assert out.image_xy[25, 0] == 70.0 and out.image_xy[26, 0] == 160.0
    assert out.image_xy[27, 0] == pytest.approx(60.0)


def test_feet_already_on_the_blobs_side_by_side_or_frontal_are_left_alone() -> None:
    mask = _mask((60, 200))
    on, moved = feet.feet_placed(_person((58.0, 204.0), mask))
    assert not moved
    together, moved = feet.feet_placed(_person((95.0, 100.0), _mask((95,), width=40)))
    assert not moved
    frontal, moved = feet.feet_placed(_person((110.0, 125.0), mask, frontal=True))
    assert not moved
    short = _mask((70, 115), width=30)  # 15 px apart, centres 45: under half a torso
    assert (
        feet.foot_shifts(_person((90.0, 95.0), short).image_xy, _person((0, 0), short).world, short)
        is None
    )
    close = _mask((80, 120), width=36)  # two feet 4 px apart: under 0.1 torso lengths
    near = _person((100.0, 101.0), close)
    assert feet.foot_shifts(near.image_xy, near.world, close) is None
    assert on.image_xy is not None and together.mask.shape == (500, 300)
    assert frontal.image_xy[27, 0] == 110.0
