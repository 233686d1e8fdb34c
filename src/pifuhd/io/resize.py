"""Resizing a crop to a network's input size: PIL's antialiased filter, or the original's.

Pixel convention as in `pifuhd.io.crops`: pixel i covers ``[i, i + 1)``, centre ``i + 0.5``.
Both modes use half-pixel centres: output pixel u of n looks at input coordinate
``(u + 0.5) * m / n`` (pixel units, m input pixels), i.e. at input pixel index
``(u + 0.5) * m / n - 0.5``. They differ in the filter and the number format:

``"antialias"``
    float32 data, PIL bilinear (a triangle filter whose width grows by m / n when shrinking, so
    every input pixel contributes; weights computed in double precision, taps outside the image
    dropped and the rest renormalised).
``"bilinear"``
    uint8 data, the 2 x 2 input pixels around the source index (no antialiasing: shrinking by
    more than 2 skips pixels), in the fixed-point arithmetic of OpenCV's ``cv2.resize(...,
    INTER_LINEAR)`` on 8-bit images, which is what the original PIFuHD feeds its networks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

RESIZE_MODES = ("antialias", "bilinear")
"""How `pifuhd.io.crops.crop_image` resizes: PIL's antialiased bilinear on float32 (ours), or
the original PIFuHD's non-antialiased bilinear on uint8 (``cv2.resize`` INTER_LINEAR)."""

WEIGHT_BITS = 11
"""Fixed-point bits of each bilinear weight (the two weights of an axis sum to 2**11)."""

WEIGHT_ONE = 1 << WEIGHT_BITS


def resize_antialias(channel: np.ndarray, size: int) -> np.ndarray:
    """(h, w) float32 -> (size, size) float32 by PIL bilinear resampling in mode "F"."""
    if channel.shape == (size, size):
        return channel
    resized = Image.fromarray(channel).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def linear_taps(
    in_size: int, out_size: int, clamp_fraction: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two taps per output pixel of a non-antialiased bilinear resize along one axis.

    The source index ``f = (u + 0.5) * s - 0.5`` (``s = 1 / (out_size / in_size)`` in double
    precision, f rounded to float32), its floor ``i`` and fraction ``t = f - i`` (float32) give
    the taps ``i, i + 1`` clamped to ``[0, in_size - 1]`` with weights
    ``rint((1 - t) * 2048), rint(t * 2048)`` (rint: half to even; they sum to 2048). With
    ``clamp_fraction`` (OpenCV's x axis) an index outside ``[0, in_size - 1)`` is moved to the
    nearest end and its fraction set to 0; without it (OpenCV's y axis) only the taps are
    clamped, so both may name the same edge pixel with the unclamped weights.

    Returns:
        ``(first, second, w_first, w_second)``: (out_size,) int64 tap indices and int64 weights.
    """
    scale = 1.0 / (out_size / in_size)
    position = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = position - first.astype(np.float32)
    if clamp_fraction:
        outside = (first < 0) | (first >= in_size - 1)
        fraction[outside] = 0.0
        first = np.clip(first, 0, in_size - 1)
    second = np.clip(first + 1, 0, in_size - 1)
    first = np.clip(first, 0, in_size - 1)
    one = np.float32(1.0)
    w_first = np.rint((one - fraction) * np.float32(WEIGHT_ONE)).astype(np.int64)
    w_second = np.rint(fraction * np.float32(WEIGHT_ONE)).astype(np.int64)
    return first, second, w_first, w_second


def resize_bilinear_uint8(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, C) uint8 -> (height, width, C) uint8, as ``cv2.resize(image, (width, height))``.

    Non-antialiased bilinear with half-pixel centres (`linear_taps`), in OpenCV's fixed-point
    steps for 8-bit data: each needed row is first resized along x exactly,
    ``r = p[i] * a0 + p[i + 1] * a1`` (scale 2**11); rows are then blended along y as OpenCV's
    vectorised path does, ``(((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16) + 2) >> 2``
    (scale 2**22 in all, each term truncated, the sum rounded half up). An exact 2x shrink
    (which OpenCV hands to its area filter) gives the same ``(a + b + c + d + 2) >> 2``.
    Bit-identical to opencv-python-headless 5.1 on 400 random shapes (1, 3, 4 channels, 1 to
    200 pixels) and on 508, 1500, 2048, 3000 -> 512, 1024 crops.
    """
    in_h, in_w, _ = image.shape
    x0, x1, a0, a1 = linear_taps(in_w, width, clamp_fraction=True)
    y0, y1, b0, b1 = linear_taps(in_h, height, clamp_fraction=False)
    pixels = image.astype(np.int64)

    def along_x(rows: np.ndarray) -> np.ndarray:
        return pixels[rows][:, x0] * a0[None, :, None] + pixels[rows][:, x1] * a1[None, :, None]

    top = ((along_x(y0) >> 4) * b0[:, None, None]) >> 16
    bottom = ((along_x(y1) >> 4) * b1[:, None, None]) >> 16
    return np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 ``rint(255 x)`` (exact for images read from 8-bit files)."""
    return np.rint(np.clip(image, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)
