"""The photo-level helpers of the body fit: crops, landmark boxes, border test."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body.detect import PersonLandmarks
from pifuhd.body.observations import crop_in_image, mask_to_crop, pixels_to_cube
from pifuhd.body.photo import landmark_box, observations, share_in_crop, touches_border
from pifuhd.io.crops import CropRect, cube_to_pixel_matrix


def _person(xy: np.ndarray, visibility: float = 1.0, mask: np.ndarray | None = None):
    return PersonLandmarks(
        image_xy=xy,
        visibility=np.full(33, visibility),
        presence=np.ones(33),
        world=np.zeros((33, 3)),
        mask=np.zeros((100, 100), np.float32) if mask is None else mask,
        score=1.0,
    )


def test_pixels_to_cube_inverts_cube_to_pixel() -> None:
    crop = CropRect(-20, 10, 300, 300)
    cube = np.array([[-1.0, 1.0], [0.0, 0.0], [0.5, -0.25]])
    m = cube_to_pixel_matrix(crop, 1024)
    pixels = cube @ m[:2, :2].T + m[:2, 3]
    np.testing.assert_allclose(pixels_to_cube(pixels, crop), cube, atol=1e-12)


def test_crop_beyond_the_photo_is_unknown_and_background() -> None:
    mask = np.ones((100, 100), dtype=bool)
    crop = CropRect(-50, 0, 100, 100)  # its left half lies outside the photo
    inside = crop_in_image((100, 100), crop, size=10)
    assert inside[:, :5].sum() == 0 and inside[:, 5:].all()
    np.testing.assert_array_equal(mask_to_crop(mask, crop, size=10), inside)


def test_share_in_crop_counts_fitted_landmarks() -> None:
    xy = np.full((33, 2), 50.0)
    xy[[11, 13, 15]] = 500.0  # three of the 21 fitted landmarks outside
    assert share_in_crop(_person(xy), CropRect(0, 0, 100, 100)) == pytest.approx(18 / 21)


def test_landmark_box_holds_visible_landmarks_only() -> None:
    xy = np.full((33, 2), 20.0)
    xy[27] = [80.0, 90.0]
    box = landmark_box(_person(xy), (100, 100))
    assert box[20, 20] and box[90, 80] and not box[95, 95] and box.sum() == 61 * 71
    assert not landmark_box(_person(xy, visibility=0.2), (100, 100)).any()


def test_own_crop_grows_to_hold_landmarks_outside_a_partial_mask() -> None:
    mask = np.zeros((100, 100), np.float32)
    mask[10:30, 40:60] = 1.0  # only the head was segmented
    xy = np.full((33, 2), 50.0)
    xy[0], xy[27] = [50.0, 12.0], [50.0, 95.0]
    obs = observations(_person(xy, mask=mask), (100, 100))
    assert np.abs(obs.keypoints).max() <= 1.0  # every landmark lies in the crop's cube


def test_touches_border() -> None:
    mask = np.zeros((50, 50), np.float32)
    mask[10:40, 10:40] = 1.0
    assert not touches_border(mask)
    mask[10:50, 20:30] = 1.0
    assert touches_border(mask)


def test_a_silhouette_mask_is_fitted_but_the_crop_follows_mediapipe() -> None:
    """The completed mask (``pifuhd.body.plain_mask``) feeds the silhouette terms only: the
    crop, and so the fit's cube, stays the one ``pifuhd reconstruct`` picks."""
    mask = np.zeros((100, 100), np.float32)
    mask[10:50, 40:60] = 1.0
    full = np.zeros((100, 100), bool)
    full[10:90, 35:65] = True
    xy = np.full((33, 2), 50.0)
    plain = observations(_person(xy, mask=mask), (100, 100))
    joined = observations(_person(xy, mask=mask), (100, 100), silhouette=full)
    assert joined.crop == plain.crop
    np.testing.assert_array_equal(joined.mask, mask_to_crop(full, plain.crop))
    assert joined.mask.sum() > 1.5 * plain.mask.sum()  # the crop cuts the rest
