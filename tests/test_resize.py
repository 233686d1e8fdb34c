"""Crop resizing: PIL's antialiased filter (pinned) and the original's uint8 bilinear."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.io.crops import RESIZE_MODES, CropRect, crop_image
from pifuhd.io.resize import WEIGHT_ONE, linear_taps, resize_bilinear_uint8, to_uint8

FLOAT32 = 1e-6
"""Tolerance for float32 results of PIL resampling."""

FIXED_POINT = 1
"""Largest uint8 difference between the fixed-point resize and exact float bilinear."""

SEED = 7


def _levels(values: np.ndarray) -> np.ndarray:
    """uint8 levels -> float32 in [0, 1] as an 8-bit photo is loaded."""
    return np.asarray(values, dtype=np.float32) / np.float32(255.0)


def _float_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Slow, obvious non-antialiased bilinear: half-pixel centres, edge pixels repeated."""
    h, w = image.shape[:2]
    out = np.empty((height, width, image.shape[2]))
    for v in range(height):
        fy = min(max((v + 0.5) * h / height - 0.5, 0.0), h - 1.0)
        y0 = min(int(fy), h - 2) if h > 1 else 0
        ty = fy - y0
        for u in range(width):
            fx = min(max((u + 0.5) * w / width - 0.5, 0.0), w - 1.0)
            x0 = min(int(fx), w - 2) if w > 1 else 0
            tx = fx - x0
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            top = (1 - tx) * image[y0, x0] + tx * image[y0, x1]
            bottom = (1 - tx) * image[y1, x0] + tx * image[y1, x1]
            out[v, u] = (1 - ty) * top + ty * bottom
    return out


# -- "bilinear": the original's input --------------------------------------------------------


def test_bilinear_halves_a_ramp_by_averaging_2x2_blocks() -> None:
    ramp = _levels(np.arange(16).reshape(4, 4) * 10)  # rows 0 10 20 30, 40 50 60 70, ...
    out = crop_image(ramp, CropRect(0, 0, 4, 4), 2, resize="bilinear") * 255
    np.testing.assert_allclose(out, [[25, 45], [105, 125]], atol=1e-4)


def test_bilinear_rounds_halves_up() -> None:
    # a 2x2 block -> 1 pixel: (sum + 2) >> 2, so 0.5 -> 1, 0.25 -> 0, 0.75 -> 1, 1.5 -> 2
    for corner, expected in ((2, 1), (1, 0), (3, 1), (6, 2)):
        block = np.array([[0, 0], [0, corner]], dtype=np.uint8)[..., None]
        assert resize_bilinear_uint8(block, 1, 1)[0, 0, 0] == expected


def test_bilinear_enlarging_repeats_edges_and_uses_fixed_point_weights() -> None:
    # 2 -> 4 pixels: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    row = np.array([[0, 100]], dtype=np.uint8)[..., None]
    assert resize_bilinear_uint8(row, 1, 4)[0, :, 0].tolist() == [0, 25, 75, 100]


def test_bilinear_taps_weights_sum_to_one() -> None:
    for clamp in (True, False):
        first, second, w0, w1 = linear_taps(508, 1024, clamp_fraction=clamp)
        assert np.all(w0 + w1 == WEIGHT_ONE)
        assert first.min() >= 0 and second.max() <= 507 and np.all(second - first <= 1)


@pytest.mark.parametrize(
    ("shape", "out"), [((9, 13), (5, 4)), ((6, 5), (11, 17)), ((7, 7), (3, 3))]
)
def test_bilinear_matches_float_reference_within_one_level(
    shape: tuple[int, int], out: tuple[int, int]
) -> None:
    image = np.random.default_rng(SEED).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = resize_bilinear_uint8(image, *out).astype(np.int64)
    reference = _float_bilinear(image.astype(np.float64), *out)
    assert np.abs(ours - reference).max() <= FIXED_POINT


def test_bilinear_channels_are_independent() -> None:
    image = np.random.default_rng(SEED).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    whole = resize_bilinear_uint8(image, 7, 5)
    for c in range(3):
        assert np.array_equal(
            whole[..., c], resize_bilinear_uint8(image[..., c : c + 1], 7, 5)[..., 0]
        )


def test_bilinear_same_size_pads_with_zeros_and_keeps_levels() -> None:
    levels = np.random.default_rng(SEED).integers(1, 256, (20, 20, 3))
    rgb = _levels(levels)
    out = crop_image(rgb, CropRect(10, -5, 20, 20), 20, resize="bilinear")
    assert np.array_equal(out[5:, :10], rgb[:15, 10:])
    assert np.all(out[:5] == 0.0) and np.all(out[:, 10:] == 0.0)
    gray = crop_image(rgb[..., 0], CropRect(0, 0, 20, 20), 10, resize="bilinear")
    assert gray.shape == (10, 10) and gray.dtype == np.float32


def test_to_uint8_recovers_8bit_levels() -> None:
    levels = np.arange(256)
    assert np.array_equal(to_uint8(_levels(levels)), levels)


def test_unknown_resize_mode_is_an_error() -> None:
    assert RESIZE_MODES == ("antialias", "bilinear")
    with pytest.raises(ValueError, match="resize must be one of"):
        crop_image(np.zeros((4, 4, 3), np.float32), CropRect(0, 0, 4, 4), 2, resize="area")


# -- the two modes side by side --------------------------------------------------------------


def test_shrinking_a_checkerboard_aliases_only_without_antialiasing() -> None:
    yy, xx = np.mgrid[:48, :48]
    board = ((xx + yy) % 2).astype(np.float32)  # 1-pixel checkerboard, shrunk 3x
    sharp = crop_image(board, CropRect(0, 0, 48, 48), 16, resize="bilinear")
    smooth = crop_image(board, CropRect(0, 0, 48, 48), 16, resize="antialias")
    v, u = np.mgrid[:16, :16]
    assert np.array_equal(sharp, board[3 * v + 1, 3 * u + 1])  # full contrast: the 3v+1 samples
    np.testing.assert_allclose(smooth, 0.5, atol=0.01)  # averaged to grey


def test_antialias_output_is_pinned() -> None:
    ramp = _levels(np.arange(16).reshape(4, 4) * 10)
    out = crop_image(ramp, CropRect(0, 0, 4, 4), 2) * 255
    np.testing.assert_allclose(out, [[35.714287, 51.428574], [98.571434, 114.28571]], rtol=1e-6)
    grid = np.add.outer(np.arange(6), 10 * np.arange(6)).astype(np.float32) / 100
    shrunk = crop_image(grid, CropRect(-1, 0, 6, 6), 4, resize="antialias")
    np.testing.assert_allclose(
        shrunk[0], [0.00140625, 0.08152778, 0.22597222, 0.36625], atol=FLOAT32
    )
    np.testing.assert_allclose(
        shrunk[:, 3], [0.36625, 0.38027778, 0.39472222, 0.40875], atol=FLOAT32
    )
    grown = crop_image(grid, CropRect(1, 1, 4, 4), 6)
    np.testing.assert_allclose(grown[0, :3], [0.11, 0.16, 0.22666666], atol=FLOAT32)
    np.testing.assert_allclose(grown[5, 3:], [0.32333332, 0.39, 0.44], atol=FLOAT32)


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_pad_colours_the_pixels_beyond_the_photo(mode: str) -> None:
    rgb = np.ones((20, 20, 3), dtype=np.float32)
    grey = (0.2, 0.4, 0.6)
    out = crop_image(rgb, CropRect(10, 0, 20, 20), 10, resize=mode, pad=grey)
    expected = np.rint(np.array(grey) * 255) / 255 if mode == "bilinear" else np.array(grey)
    np.testing.assert_allclose(out[:, 6:], np.broadcast_to(expected, (10, 4, 3)), atol=FLOAT32)
    np.testing.assert_allclose(out[:, :4], 1.0, atol=FLOAT32)
    gray = crop_image(rgb[..., 0], CropRect(50, 50, 8, 8), 4, resize=mode, pad=0.2)
    np.testing.assert_allclose(gray, expected[0], atol=FLOAT32)
