"""Completing MediaPipe's person mask from a plain background (``pifuhd.body.plain_mask``)."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body import photo
from pifuhd.body.plain_mask import MAX_GROWTH, completed_mask

GREY = 0.5


def _scene(background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb, person, torso): a 200 x 160 photo of a blocky person on plain grey; the torso is
    what MediaPipe's mask holds, the skirt below it is what it missed."""
    rgb = np.full((200, 160, 3), GREY, np.float32) if background is None else background
    person = np.zeros((200, 160), bool)
    person[40:110, 60:100] = True  # torso
    person[110:170, 50:110] = True  # skirt
    rgb[40:110, 60:100] = (0.8, 0.3, 0.3)
    rgb[110:170, 50:110] = (0.2, 0.2, 0.7)
    torso = np.zeros_like(person)
    torso[40:110, 60:100] = True
    return rgb, person, torso


def test_a_plain_background_completes_the_mask() -> None:
    rgb, person, torso = _scene()
    mask, gain = completed_mask(rgb, torso)
    np.testing.assert_array_equal(mask, person)
    assert gain == pytest.approx((60 * 60) / (70 * 40))


def test_a_full_mask_is_left_alone() -> None:
    rgb, person, _ = _scene()
    mask, gain = completed_mask(rgb, person)
    assert gain == 0.0 and mask is person


def test_a_cluttered_background_is_not_used() -> None:
    rng = np.random.default_rng(0)
    rgb, _, torso = _scene(rng.uniform(0.0, 1.0, (200, 160, 3)).astype(np.float32))
    mask, gain = completed_mask(rgb, torso)
    assert gain == 0.0 and mask is torso


def test_a_colour_mask_reaching_the_border_is_not_used() -> None:
    rgb, _, torso = _scene()
    rgb[165:, :] = (0.3, 0.25, 0.2)  # a floor the skirt stands on, out to the photo's edges
    mask, gain = completed_mask(rgb, torso)
    assert gain == 0.0 and mask is torso


def test_a_colour_mask_far_larger_than_the_person_is_not_used() -> None:
    rgb, _, torso = _scene()
    rgb[20:190, 10:150] = (0.2, 0.2, 0.7)  # a backdrop of another colour behind the person
    rgb[40:110, 60:100] = (0.8, 0.3, 0.3)
    mask, gain = completed_mask(rgb, torso)
    assert MAX_GROWTH < 170 * 140 / (70 * 40)  # the backdrop is 8.5 torsos
    assert gain == 0.0 and mask is torso


def test_a_person_the_colour_mask_misses_is_not_used() -> None:
    rgb, _, torso = _scene()
    rgb[40:110, 60:100] = GREY  # the torso is the background's colour: MediaPipe saw more
    mask, gain = completed_mask(rgb, torso)
    assert gain == 0.0 and mask is torso


@pytest.mark.parametrize(("found", "alone"), [(1, True), (2, False)])
def test_fit_people_completes_only_a_person_alone(monkeypatch, found: int, alone: bool) -> None:
    seen = []
    monkeypatch.setattr(photo, "detect_people", lambda rgb, max_people: ["p"] * found)
    monkeypatch.setattr(
        photo, "fit_person", lambda p, rgb, crop, settings, cache, complete: seen.append(complete)
    )
    photo.fit_people(np.zeros((8, 8, 3), np.float32))
    assert seen == [alone] * found
    seen.clear()
    photo.fit_people(np.zeros((8, 8, 3), np.float32), complete_mask=False)
    assert seen == [False] * found
