"""A skeleton or mask MediaPipe cut short, and the padded photo that finds the person whole.

Under a long skirt, a dress or a long coat, MediaPipe Pose sometimes frames only the upper body
(its person detector judged the body too small): the ankles at mid-skirt, every leg landmark on
the chest, or the legs and the person mask both cut off at the knees. Fitted to that, the body
shrinks or folds its legs into a stride.

Run again on the photo with the person smaller in the frame (:func:`padded`: edge-padded by
its own longer side on every side), MediaPipe frames most of them right. Measured on the side,
front and back views of 58 synthetic people in long skirts, dresses and coats (tuning people
1052-1694, both light presets, 456 views with a detection; ``benchmarks/body_fit.py`` renders):
- The first detection's lowest foot landmark lay over 0.1 of the rendered person's height
  above its feet in 20 views. In 7 of them it lay far above MediaPipe's own mask too
  (:func:`foot_gap` 0.126-0.87; at most 0.087 in the other 449 views: :func:`collapsed`); in
  the others the mask was cut short with it.
- The retry found a person in 363 views (padding by half the longer side is tried where it
  finds nobody). :func:`better` took it in 30: every view above with a retry, plus some with
  smaller cuts. There the mask's IoU against the rendered person rose in 28 views and fell in
  one (0.981 -> 0.970); in the 24 views of the first 0.07 threshold from 0.722 to 0.934 on
  average, the feet's gap to the true feet from 0.279 to 0.031 of the height.
- Padding by 10, 25 or 50 % alone, halving the resolution or mirroring the photo mended fewer
  of the collapsed views.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FEET = (27, 28, 29, 30, 31, 32)
"""MediaPipe's ankles, heels and big toes."""

COLLAPSED_GAP = 0.11
"""A foot gap over this share of the mask's height marks a collapsed skeleton (between 0.087,
the largest of 449 sound views, and 0.126, the smallest of 7 collapsed ones)."""

LOWER = 0.05
"""A retry whose lowest foot landmark lies this share of its mask's height below the first
detection's replaces it (with the other tests of :func:`better`). On the tuning skirt scan 0.07
took 24 views, 0.05 took 30 (IoU of the mask against the rendered person better in 28, worse in
one); in fits, the 5 views it changed over 0.07 all rose (by 0.010-0.224)."""

HELD = 0.9
"""Share of the first mask a retry's mask must cover to replace it."""

MAX_CANVAS = 4096
"""Longest side of the padded photo; larger photos are scaled down before padding."""


def foot_gap(image_xy: np.ndarray, mask: np.ndarray) -> float | None:
    """How far the lowest foot landmark lies above the person mask's lowest row, as a share of
    the mask's height; None where the mask (> 0.5) is empty.

    Args:
        image_xy: (33, 2) MediaPipe landmarks in pixels (x right, y down).
        mask: (H, W) person probability.
    """
    rows = np.flatnonzero((mask > 0.5).any(axis=1))
    if len(rows) == 0:
        return None
    top, bottom = rows[0], rows[-1] + 1
    lowest = float(np.max(image_xy[list(FEET), 1]))
    return float((bottom - lowest) / max(bottom - top, 1))


def collapsed(image_xy: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the skeleton sits far up inside the person mask (:data:`COLLAPSED_GAP`)."""
    gap = foot_gap(image_xy, mask)
    return gap is not None and gap > COLLAPSED_GAP


def padded(pixels: np.ndarray, share: float = 1.0) -> tuple[np.ndarray, int, float]:
    """The photo with the person smaller in the frame.

    Args:
        pixels: (H, W, 3) uint8.
        share: the padding on each side, as a share of the (scaled) photo's longer side.

    Returns:
        (canvas, pad, scale): the photo scaled by ``scale`` (1, or less so that the canvas's
        longer side stays within :data:`MAX_CANVAS`), then edge-padded by ``pad`` pixels on
        every side. A canvas point (x, y) is the photo's pixel point ((x - pad) / scale,
        (y - pad) / scale).
    """
    height, width = pixels.shape[:2]
    scale = min(1.0, MAX_CANVAS / ((1.0 + 2.0 * share) * max(height, width)))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))
    pad = round(share * max(pixels.shape[:2]))
    canvas = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return np.ascontiguousarray(canvas), pad, scale


def unpad_points(xy: np.ndarray, pad: int, scale: float) -> np.ndarray:
    """(N, 2) canvas pixel points -> the photo's (see :func:`padded`)."""
    return (xy - pad) / scale


def unpad_mask(mask: np.ndarray, pad: int, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """A canvas-sized (h, w) mask -> the photo's (H, W) = ``shape`` (see :func:`padded`)."""
    height, width = shape
    inner = mask[pad : mask.shape[0] - pad, pad : mask.shape[1] - pad]
    if inner.shape != (height, width):
        image = Image.fromarray(np.asarray(inner, dtype=np.float32), mode="F")
        inner = np.asarray(image.resize((width, height), Image.BILINEAR))
    return np.clip(np.asarray(inner, dtype=np.float32), 0.0, 1.0)


def better(xy: np.ndarray, mask: np.ndarray, xy2: np.ndarray, mask2: np.ndarray) -> bool:
    """Whether a retry's (33, 2) landmarks ``xy2`` and (H, W) mask ``mask2`` should replace the
    first detection's ``xy`` and ``mask``.

    The retry's feet must reach its own mask's lowest rows (a gap in [0, :data:`COLLAPSED_GAP`]),
    its mask must hold :data:`HELD` of the first one, and either the first skeleton collapsed
    (:func:`collapsed`) or the retry's feet lie :data:`LOWER` of its mask's height below the
    first one's (the first mask was cut short with the legs)."""
    gap = foot_gap(xy2, mask2)
    if gap is None or not 0.0 <= gap <= COLLAPSED_GAP:
        return False
    first, second = mask > 0.5, mask2 > 0.5
    area = first.sum()
    if area == 0 or (first & second).sum() < HELD * area:
        return False
    if collapsed(xy, mask):
        return True
    rows = np.flatnonzero(second.any(axis=1))
    drop = float(np.max(xy2[list(FEET), 1]) - np.max(xy[list(FEET), 1]))
    return drop >= LOWER * (rows[-1] + 1 - rows[0])


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) probability masks thresholded at 0.5."""
    a, b = a > 0.5, b > 0.5
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0
