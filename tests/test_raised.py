"""Hands above the head that MediaPipe missed: an arm raised into the mask above the head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pifuhd.body import raised
from pifuhd.body.detect import PersonLandmarks


def _person(mask_top: int, wrist_y: float = 320.0) -> PersonLandmarks:
    """Ears at y 200, shoulders at 260 (60 px apart), hips at 360; both wrists at ``wrist_y``;
    the person mask: the body from y 180 down over x 100-200, and a hand over x 140-160 from
    ``mask_top`` down to it. World landmarks: 1 m per 100 px, like the torso."""
    xy = np.zeros((33, 2))
    xy[[7, 8]] = (150, 200)
    xy[11], xy[12] = (160, 260), (140, 260)
    xy[[23, 24]] = (150, 360)
    xy[13], xy[14] = (165, 300), (135, 300)
    xy[15], xy[16] = (170, wrist_y), (130, wrist_y)
    mask = np.zeros((500, 300), np.float32)
    mask[180:480, 100:200] = 1.0
    mask[mask_top:180, 140:160] = 1.0
    visibility = np.ones(33)
    visibility[15], visibility[16] = 0.2, 0.9  # the left wrist is the least seen
    return PersonLandmarks(
        image_xy=xy,
        visibility=visibility,
        presence=np.ones(33),
        world=np.concatenate([xy / 100.0, np.zeros((33, 1))], axis=1),
        mask=mask,
        score=1.0,
    )


def test_the_least_seen_arm_goes_up_into_the_mask() -> None:
    person = _person(mask_top=100)  # 100 px above the ears: 1.67 ear-to-shoulder lengths
    assert raised.raised_wrist(person.image_xy, person.mask > 0.5) == pytest.approx((150.0, 148.0))
    out, did = raised.hands_raised(person)
    assert did
    np.testing.assert_allclose(out.image_xy[15], (150.0, 148.0))  # a hand (48 px) below the top
    np.testing.assert_allclose(out.image_xy[13], (155.0, 204.0))  # halfway from the shoulder
    assert out.visibility[13] == 0.0 and out.visibility[15] == pytest.approx(0.5)
    np.testing.assert_allclose(out.world[15, :2], (1.5, 1.48))  # moved by the same metres
    np.testing.assert_array_equal(out.image_xy[16], person.image_xy[16])  # the other arm stays
    assert person.image_xy[15, 1] == 320.0  # the input is not changed


def test_hands_down_or_already_found_are_left_alone() -> None:
    low = _person(mask_top=150)  # 50 px above the ears: 0.83 lengths, hair not hands
    assert raised.raised_wrist(low.image_xy, low.mask > 0.5) is None
    assert not raised.hands_raised(low)[1]
    found = _person(mask_top=100, wrist_y=130.0)  # MediaPipe has the wrists above the ears
    assert raised.raised_wrist(found.image_xy, found.mask > 0.5) is None


def test_raised_top_is_the_mask_top_wherever_the_wrists_are() -> None:
    """The ceiling's trigger: the mask rising above the head, MediaPipe's wrists aside."""
    assert raised.raised_top(_person(100).image_xy, _person(100).mask > 0.5) == 100
    found = _person(mask_top=100, wrist_y=130.0)
    assert raised.raised_top(found.image_xy, found.mask > 0.5) == 100
    low = _person(mask_top=150)
    assert raised.raised_top(low.image_xy, low.mask > 0.5) is None


def test_ceiling_level_is_the_raised_mask_top_in_cube_y() -> None:
    """The person of ``_person`` on a 500-px crop square: cube y = 1 - row * 2 / 500."""
    from pifuhd.body.mask_terms import CEILING_ABOVE, ceiling_level

    person = _person(mask_top=100)
    mask = np.zeros((500, 500), dtype=bool)
    mask[:, :300] = person.mask > 0.5
    cube = np.stack([person.image_xy[:, 0] / 250.0 - 1.0, 1.0 - person.image_xy[:, 1] / 250.0], 1)
    assert ceiling_level(cube, mask, None) == pytest.approx(1.0 - 100 * 2 / 500 - CEILING_ABOVE)
    known = np.ones((500, 500), dtype=bool)
    assert ceiling_level(cube, mask, known) == pytest.approx(0.6 - CEILING_ABOVE)
    known[99, 150] = False  # the photo ends above the hand: it may go on
    assert ceiling_level(cube, mask, known) is None
    low = _person(mask_top=150)
    mask[:, :300] = low.mask > 0.5
    assert ceiling_level(cube, mask, None) is None  # hair, not a hand


def test_ceiling_term_pulls_only_a_body_below_the_ceiling() -> None:
    """The mean of the five highest heights against the ceiling, one-sided, in margins."""
    from pifuhd.body.mask_terms import ceiling_term

    heights = torch.tensor([-0.5, -0.2, 0.60, 0.61, 0.62, 0.63, 0.64, 0.90], requires_grad=True)
    high = np.mean([0.61, 0.62, 0.63, 0.64, 0.90])
    cost = ceiling_term(heights, 0.8, margin=0.02)
    assert float(cost) == pytest.approx(((0.8 - high) / 0.02) ** 2, rel=1e-5)
    (grad,) = torch.autograd.grad(cost, heights)
    assert float(grad[0]) == 0.0 and float(grad[-1]) < 0.0  # only the highest points move up
    assert float(ceiling_term(heights, 0.5)) == 0.0
