"""A skeleton MediaPipe shrank into the upper body: the test, the padded photo, the retry."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body import collapse, detect
from pifuhd.body.collapse import (
    better,
    collapsed,
    foot_gap,
    overlap,
    padded,
    unpad_mask,
    unpad_points,
)
from pifuhd.body.detect import PersonLandmarks, detect_people


def _mask(shape=(200, 120), rows=(20, 180), cols=(40, 80)) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    mask[rows[0] : rows[1], cols[0] : cols[1]] = 0.9
    return mask


def _skeleton(feet_y: float, x: float = 60.0) -> np.ndarray:
    xy = np.full((33, 2), 30.0)
    xy[:, 0] = x
    xy[27:33, 1] = [feet_y - 8, feet_y - 6, feet_y - 4, feet_y - 2, feet_y, feet_y - 1]
    return xy


def test_foot_gap_is_the_share_of_the_mask_height_above_its_lowest_row() -> None:
    mask = _mask()  # rows 20..179: height 160, lowest row ends at 180
    assert foot_gap(_skeleton(172.0), mask) == pytest.approx(8.0 / 160.0)
    assert foot_gap(_skeleton(100.0), mask) == pytest.approx(0.5)
    assert foot_gap(_skeleton(190.0), mask) == pytest.approx(-10.0 / 160.0)
    assert foot_gap(_skeleton(100.0), np.zeros((200, 120), np.float32)) is None


def test_collapsed_skeletons() -> None:
    mask = _mask()
    assert not collapsed(_skeleton(172.0), mask)
    assert collapsed(_skeleton(148.0), mask)  # feet 0.2 of the height above the bottom
    assert not collapsed(_skeleton(196.0), mask)  # past the bottom: not collapsed
    assert not collapsed(_skeleton(50.0), np.zeros_like(mask))  # no mask


def test_a_retry_replaces_a_collapsed_or_cut_short_detection_only() -> None:
    whole = _mask()  # rows 20..179
    short = _mask(rows=(20, 150))  # the first mask cut at the knees
    # the first skeleton collapsed; the retry's feet on its mask's bottom
    assert better(_skeleton(100.0), whole, _skeleton(175.0), whole)
    # the first mask and feet cut short together: the retry's feet 25 px (0.16) lower
    assert better(_skeleton(148.0), short, _skeleton(173.0), whole)
    # ... but only 0.03 lower: kept
    assert not better(_skeleton(168.0), whole, _skeleton(173.0), whole)
    # the retry's feet past its mask's bottom, or still far above it: kept
    assert not better(_skeleton(100.0), whole, _skeleton(183.0), whole)
    assert not better(_skeleton(100.0), whole, _skeleton(140.0), whole)
    # the retry's mask misses much of the first one (another person): kept
    other = _mask(cols=(70, 110))
    assert not better(_skeleton(100.0), whole, _skeleton(175.0, 90.0), other)


def test_padded_photo_maps_back_exactly() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    assert padded(pixels, 0.5)[0].shape == (60, 50, 3)
    canvas, pad, scale = padded(pixels)
    assert (pad, scale) == (30, 1.0) and canvas.shape == (90, 80, 3)
    assert np.array_equal(canvas[pad : pad + 30, pad : pad + 20], pixels)
    assert np.array_equal(canvas[0, 0], pixels[0, 0])  # edge-padded
    assert np.array_equal(canvas[-1, 45], pixels[-1, 15])
    xy = np.array([[pad + 10.5, pad + 20.25]])
    assert unpad_points(xy, pad, scale).tolist() == [[10.5, 20.25]]
    mask = np.zeros(canvas.shape[:2], np.float32)
    mask[pad + 5 : pad + 9, pad + 2 : pad + 4] = 1.0
    mask[0:5, 0:5] = 1.0  # outside the photo: dropped
    back = unpad_mask(mask, pad, scale, (30, 20))
    assert back.shape == (30, 20) and back.sum() == 8.0 and back[5:9, 2:4].all()


def test_large_photos_are_scaled_down_before_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collapse, "MAX_CANVAS", 120)
    pixels = np.zeros((80, 60, 3), np.uint8)
    canvas, pad, scale = padded(pixels)
    assert scale == pytest.approx(0.5) and pad == 40 and canvas.shape == (120, 110, 3)
    assert unpad_points(np.array([[40.0, 60.0]]), pad, scale).tolist() == [[0.0, 40.0]]
    mask = np.zeros(canvas.shape[:2], np.float32)
    mask[pad : pad + 20, pad : pad + 30] = 1.0  # the photo's top half (scaled)
    back = unpad_mask(mask, pad, scale, (80, 60))
    assert back.shape == (80, 60)
    assert back[:38].min() == 1.0 and back[42:].max() == 0.0


def test_overlap_is_the_iou_of_thresholded_masks() -> None:
    a, b = np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32)
    a[:2] = 0.9
    b[1:3] = 0.6
    b[3] = 0.4  # under 0.5: not in b
    assert overlap(a, b) == pytest.approx(4 / 12)
    assert overlap(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0


def _person(xy: np.ndarray, mask: np.ndarray, score: float = 0.9) -> PersonLandmarks:
    ones = np.ones(33)
    return PersonLandmarks(xy, ones, ones, np.zeros((33, 3)), mask, score, np.ones(33))


def test_a_collapsed_skeleton_is_found_again_on_the_padded_photo(monkeypatch) -> None:
    """``detect_people`` retries a collapsed person on the padded photo and takes the retry's
    person whose mask overlaps theirs, mapped back to the photo's pixels."""
    shape = (200, 120)
    mask = _mask(shape)
    calls = []

    def fake_detect(pixels: np.ndarray, max_people: int) -> list[PersonLandmarks]:
        calls.append(pixels.shape)
        if pixels.shape[:2] == shape:  # the photo: one person, feet at mid-body
            return [_person(_skeleton(100.0), mask)] if len(calls) == 1 else []
        pad = 200  # the canvas: the person again, feet on the mask's bottom, plus a stranger
        big = np.zeros(pixels.shape[:2], np.float32)
        big[pad : pad + 200, pad : pad + 120] = mask
        stranger = np.zeros_like(big)
        stranger[:50, :50] = 1.0
        return [
            _person(_skeleton(-50.0, 10.0), stranger),
            _person(_skeleton(pad + 175.0, pad + 60.0), big),
        ]

    monkeypatch.setattr(detect, "_detect_once", fake_detect)
    [person] = detect_people(np.full((*shape, 3), 0.5, np.float32), max_people=2)
    assert calls[-1] == (600, 520, 3)
    assert person.image_xy[31].tolist() == [60.0, 175.0]
    assert np.array_equal(person.mask, mask) and person.score == 0.9 and person.padded
    assert foot_gap(person.image_xy, person.mask) == pytest.approx(5.0 / 160.0)


def test_a_retry_that_does_not_find_the_feet_is_not_taken(monkeypatch) -> None:
    shape = (200, 120)
    mask = _mask(shape)

    def fake_detect(pixels: np.ndarray, max_people: int) -> list[PersonLandmarks]:
        if pixels.shape[:2] == shape:
            return [_person(_skeleton(100.0), mask)]
        big = np.zeros(pixels.shape[:2], np.float32)
        big[200:400, 200:320] = mask
        return [_person(_skeleton(200 + 110.0, 260.0), big)]  # still collapsed

    monkeypatch.setattr(detect, "_detect_once", fake_detect)
    [person] = detect_people(np.full((*shape, 3), 0.5, np.float32), max_people=1)
    assert person.image_xy[31].tolist() == [60.0, 100.0]  # the first detection, unchanged
    assert not person.padded


def test_the_smaller_padding_is_tried_where_the_larger_finds_nobody(monkeypatch) -> None:
    shape = (200, 120)
    mask = _mask(shape)
    canvases = []

    def fake_detect(pixels: np.ndarray, max_people: int) -> list[PersonLandmarks]:
        if pixels.shape[:2] == shape:
            return [_person(_skeleton(100.0), mask)]
        canvases.append(pixels.shape[:2])
        if pixels.shape[:2] == (600, 520):  # padded by the longer side: nobody
            return []
        big = np.zeros(pixels.shape[:2], np.float32)
        big[100:300, 100:220] = mask  # padded by half the longer side: 100 px
        return [_person(_skeleton(100 + 176.0, 160.0), big)]

    monkeypatch.setattr(detect, "_detect_once", fake_detect)
    [person] = detect_people(np.full((*shape, 3), 0.5, np.float32), max_people=1)
    assert canvases == [(600, 520), (400, 320)]
    assert person.image_xy[31].tolist() == [60.0, 176.0] and person.padded


def test_a_photo_that_gives_nobody_is_tried_padded(monkeypatch) -> None:
    """Nobody on the photo: the photo padded by a quarter, then by half, of its longer side;
    the people found there come back in the photo's pixels, marked ``padded``."""
    shape = (200, 120)
    mask = _mask(shape)
    canvases = []

    def fake_detect(pixels: np.ndarray, max_people: int) -> list[PersonLandmarks]:
        canvases.append(pixels.shape[:2])
        if pixels.shape[:2] != (400, 320):  # the photo and the quarter padding: nobody
            return []
        big = np.zeros(pixels.shape[:2], np.float32)
        big[100:300, 100:220] = mask
        faint = _person(_skeleton(150.0, 150.0), big, score=0.3)  # under MIN_SCORE: dropped
        return [_person(_skeleton(100 + 176.0, 160.0), big), faint]

    monkeypatch.setattr(detect, "_detect_once", fake_detect)
    [person] = detect_people(np.full((*shape, 3), 0.5, np.float32), max_people=2)
    assert canvases == [shape, (300, 220), (400, 320)]
    assert person.image_xy[31].tolist() == [60.0, 176.0] and person.padded
    assert np.array_equal(person.mask, mask)
    canvases.clear()
    monkeypatch.setattr(detect, "_detect_once", lambda pixels, n: canvases.append(1) or [])
    assert detect_people(np.full((*shape, 3), 0.5, np.float32)) == [] and len(canvases) == 3


@pytest.mark.parametrize("padded_again", [True, False])
def test_the_fit_says_when_the_person_was_found_on_the_padded_photo(
    monkeypatch, padded_again: bool
) -> None:
    from dataclasses import replace
    from types import SimpleNamespace

    from pifuhd.body import photo
    from pifuhd.body.fit import FitSettings

    fit = SimpleNamespace(warnings=[], residuals={"stage3": {"landmark_error_cube_x100": 1.0}})
    monkeypatch.setattr(photo, "facing_corrected", lambda rgb, person: (person, False))
    monkeypatch.setattr(photo, "observations", lambda *args: None)
    monkeypatch.setattr(photo, "load_anny", lambda cache_dir: None)
    monkeypatch.setattr(photo, "fit_observations", lambda obs, model, settings: fit)
    person = replace(_person(_skeleton(172.0), _mask()), padded=padded_again)
    settings = FitSettings(raised=False, feet=False, gait=False, legs=False, arms=False)
    out = photo.fit_person(person, np.zeros((200, 120, 3), np.float32), settings=settings)
    assert (photo.PADDED_NOTE in out.warnings) == padded_again
