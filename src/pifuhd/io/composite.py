"""The photo as the networks should see it: the background replaced or kept, and the colour of
the crop square's pixels beyond the photo (``pifuhd.inference_settings`` says which per
checkpoint).

Images are (H, W, 3) float32 sRGB in [0, 1]; masks (H, W) bool, True on the person.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BAND = 0.02
"""Width of the photo's outer band, as a share of its height and width."""

FEATHER_PX = 1.0
"""Gaussian sigma (photo pixels) that softens the mask's edge before compositing."""


def band_colour(rgb: np.ndarray) -> np.ndarray:
    """(3,) float32 per-channel median of the photo's outer band: a colour the background
    around the photo plausibly has."""
    height, width = rgb.shape[:2]
    by, bx = max(1, round(BAND * height)), max(1, round(BAND * width))
    band = np.zeros((height, width), dtype=bool)
    band[:by], band[-by:], band[:, :bx], band[:, -bx:] = True, True, True, True
    return np.median(rgb[band], axis=0).astype(np.float32)


def soft_alpha(mask: np.ndarray, sigma: float = FEATHER_PX) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1]: the mask with its edge blurred by ``sigma`` pixels."""
    alpha = mask.astype(np.float32)
    return ndimage.gaussian_filter(alpha, sigma) if sigma > 0 else alpha


def network_photo(
    rgb: np.ndarray, mask: np.ndarray | None, background: str, fill: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The photo to crop for the networks, and the colour of pixels beyond it.

    Args:
        rgb: (H, W, 3) float32 photo.
        mask: (H, W) bool person mask, or None (nothing is replaced).
        background: "fill" (outside the mask becomes ``fill``) or "keep".
        fill: the replacement colour, sRGB in [0, 1].

    Returns:
        (H, W, 3) float32 image and (3,) float32 colour for the crop square beyond the photo:
        ``fill`` with "fill", the photo's band colour with "keep".
    """
    colour = np.asarray(fill, dtype=np.float32)
    if background == "keep":
        return rgb, band_colour(rgb)
    if background != "fill":
        raise ValueError(f"background must be 'keep' or 'fill', got {background!r}")
    if mask is None:
        return rgb, colour
    alpha = soft_alpha(mask)[..., None]
    return (rgb * alpha + colour * (1.0 - alpha)).astype(np.float32), colour
