"""Front and back views: knees and ankles put back on the legs the person mask shows."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body import stance
from pifuhd.body.facing import torso_facing
from tests.landmarks import seen_person


def _mask(legs: tuple[tuple[int, int], ...] = ((70, 95), (105, 130))) -> np.ndarray:
    """A (500, 200) person mask: a torso over x 70-130 from y 100 to 300, then one column of
    the mask per ``(start, stop)`` leg down to y 480."""
    mask = np.zeros((500, 200), bool)
    mask[100:300, 70:130] = True
    for a, b in legs:
        mask[300:481, a:b] = True
    return mask


def _person(mask: np.ndarray, knees=(118.0, 82.0), ankles=(118.0, 82.0), back=False):
    """Seen from the front (the person's left at image right; ``back``: from behind, left at
    image left): shoulders at y 200, hips at y 300 (torso 100 px), knees at y 390 and ankles
    at y 470 at the given (left, right) x; heels and toes 5 px beside the ankles."""
    flip = -1.0 if back else 1.0
    xy = np.zeros((33, 2))
    xy[11], xy[12] = (100 + 25 * flip, 200), (100 - 25 * flip, 200)
    xy[23], xy[24] = (100 + 18 * flip, 300), (100 - 18 * flip, 300)
    for side, (knee, ankle, heel, toe) in enumerate(((25, 27, 29, 31), (26, 28, 30, 32))):
        xy[knee] = (knees[side], 390)
        xy[ankle], xy[heel] = (ankles[side], 470), (ankles[side] - 5, 478)
        xy[toe] = (ankles[side] + 5, 480)
    world = np.zeros((33, 3))  # every landmark at one depth: facing the camera (or away)
    world[:, :2] = (xy - (100, 300)) * 0.005  # 0.5 m per 100 px
    return seen_person(xy, world, mask)


def test_mask_runs_and_two_legs() -> None:
    row = np.array([0, 1, 1, 0, 0, 1, 1, 1, 0, 1], bool)
    assert stance.mask_runs(row) == [(1, 3), (5, 8), (9, 10)]
    mask = _mask()
    assert stance.two_legs(mask, 390.4, 100.0) == [(70, 95), (105, 130)]
    assert stance.two_legs(mask, 250.0, 100.0) is None  # the torso: one run
    assert stance.two_legs(mask, 600.0, 100.0) is None  # below the image
    assert stance.two_legs(_mask(((60, 99), (100, 140))), 390.0, 100.0) is None  # 1 px gap
    assert stance.two_legs(_mask(((60, 65), (100, 140))), 390.0, 100.0) is None  # 5 px: no leg


def test_knees_in_the_gap_and_crossed_ankles_go_to_their_legs() -> None:
    # front view: the left leg on the image's right run (105-130), the right on the left one
    person = _person(_mask(), knees=(100.0, 100.0), ankles=(82.0, 118.0))
    out, moved = stance.legs_on_mask(person)
    assert moved
    np.testing.assert_allclose(out.image_xy[25:29, 0], [117.5, 82.5, 117.5, 82.5])
    # the heel and toe move with their ankle; heights stay
    np.testing.assert_allclose(out.image_xy[29:33, 0], [112.5, 77.5, 122.5, 87.5])
    np.testing.assert_array_equal(out.image_xy[:, 1], person.image_xy[:, 1])
    np.testing.assert_array_equal(out.image_xy[:25], person.image_xy[:25])
    # the world landmarks by the same amount in metres (0.5 m per torso of 100 px)
    assert out.world[25, 0] - person.world[25, 0] == pytest.approx(17.5 * 0.005)
    assert out.world[28, 0] - person.world[28, 0] == pytest.approx(-35.5 * 0.005)


def test_a_back_view_takes_the_legs_in_its_own_order() -> None:
    person = _person(_mask(), knees=(100.0, 100.0), ankles=(82.0, 118.0), back=True)
    out, moved = stance.legs_on_mask(person)
    assert moved  # from behind the left hip is at image left: the left leg on the left run
    assert out.image_xy[25, 0] == pytest.approx(82.5) and out.image_xy[27, 0] == 82.0
    assert out.image_xy[26, 0] == pytest.approx(117.5) and out.image_xy[28, 0] == 118.0


def test_nothing_moves_on_its_legs_in_a_skirt_or_from_the_side() -> None:
    person = _person(_mask(), knees=(120.0, 80.0), ankles=(106.0, 94.0))
    assert stance.legs_on_mask(person) == (person, False)  # each on its own run, edge included
    skirt = _mask(((60, 140),))
    assert stance.legs_on_mask(_person(skirt, knees=(100.0, 100.0)))[1] is False
    side = _person(_mask(), knees=(100.0, 100.0))
    side.world[11, 2], side.world[12, 2] = -0.2, 0.2  # shoulders apart in depth: a side view
    side.world[11, 0], side.world[12, 0] = 0.0, 0.0
    assert stance.leg_shifts(side.image_xy, side.world, side.mask > 0.5) == {}


def test_legs_facing_away_from_the_torso_are_relabelled() -> None:
    # seen from behind (left shoulder and hip at image left), legs labelled as from the front:
    # the left knee and ankle at image right, the right ones at image left
    person = _person(_mask(((60, 140),)), knees=(115.0, 85.0), ankles=(125.0, 75.0), back=True)
    assert stance.side_order(person.image_xy) == ["L", "R"]
    out, turned = stance.legs_facing_torso(person)
    assert turned
    np.testing.assert_array_equal(out.image_xy[[25, 27, 29, 31]], person.image_xy[[26, 28, 30, 32]])
    np.testing.assert_array_equal(out.image_xy[[26, 28]], person.image_xy[[25, 27]])
    np.testing.assert_array_equal(out.image_xy[:25], person.image_xy[:25])  # hips, torso kept
    # the same legs seen from the front agree with the torso: nothing changes
    front = _person(_mask(((60, 140),)), knees=(115.0, 85.0), ankles=(125.0, 75.0))
    assert stance.legs_facing_torso(front) == (front, False)
    # ankles crossed by less than REVERSED (10 px here), or the knees clearly on their sides
    slight = _person(_mask(), knees=(100.0, 100.0), ankles=(104.0, 96.0), back=True)
    assert not stance.legs_reversed(slight.image_xy, slight.world)
    clear_knees = _person(_mask(), knees=(70.0, 130.0), ankles=(125.0, 75.0), back=True)
    assert stance.legs_facing_torso(clear_knees)[1] is False


def test_a_three_quarter_view_keeps_its_labels() -> None:
    person = _person(_mask(((60, 140),)), knees=(115.0, 85.0), ankles=(125.0, 75.0), back=True)
    assert stance.legs_reversed(person.image_xy, person.world)
    x = person.world[:, 0].copy()
    person.world[:, 0], person.world[:, 2] = 0.6 * x, 0.8 * x  # turned 53 degrees about y
    assert abs(torso_facing(person.world)) == pytest.approx(0.6, abs=0.01)
    assert not stance.legs_reversed(person.image_xy, person.world)
