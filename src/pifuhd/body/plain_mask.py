"""A person mask completed from a plain background, where MediaPipe's segmentation falls short.

MediaPipe's person mask misses what does not look like a person to it: a long skirt, bare
lower legs, a backpack seen from the side. On the body-fit table's renders (plain mid-grey
background) its mask has IoU 0.952 with the true clothed mask and the background-colour mask
(:func:`pifuhd.io.person_mask.foreground_mask`) 0.987; the worst MediaPipe masks (a long
skirt seen from the side) cover a quarter of the person.

Where the background is plain, the colour mask is joined to MediaPipe's. It is taken only
when MediaPipe's person lies inside it (a cluttered background's colour mask is a wall or a
blob elsewhere), when it reaches the image border no more than MediaPipe's mask does (a floor
or a wall edge reaches it), and when it is at most ``MAX_GROWTH`` times MediaPipe's mask.
Whatever touches the person and stands out from the backdrop joins the mask: a chair under a
sitting person is the known failure; :func:`pifuhd.body.photo.fit_people` uses this only when
MediaPipe sees one person.
"""

from __future__ import annotations

import numpy as np

from pifuhd.io.person_mask import foreground_mask

MIN_INSIDE = 0.95
"""Share of MediaPipe's mask that must lie inside the colour mask."""

MAX_GROWTH = 4.0
"""Largest ratio of the joined mask's area to MediaPipe's."""

BORDER_SLACK = 0.005
"""Share of the image perimeter the colour mask may touch beyond what MediaPipe's touches."""

MIN_GAIN = 0.01
"""Smallest gain (share of MediaPipe's area) worth reporting as a completion."""


def border_pixels(mask: np.ndarray) -> int:
    """Pixels of an (H, W) bool mask on the image's outermost two rows and columns."""
    edge = np.zeros_like(mask)
    edge[:2], edge[-2:], edge[:, :2], edge[:, -2:] = True, True, True, True
    return int((mask & edge).sum())


def completed_mask(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """MediaPipe's person mask joined with the plain background's colour mask (module docstring).

    Args:
        rgb: (H, W, 3) float32 image in [0, 1]; mask: (H, W) bool, MediaPipe's person mask.
    Returns:
        The (H, W) bool mask to fit, and the share of ``mask``'s area it gained (0.0 and
        ``mask`` itself when the background is not plain or the colour mask is not taken).
    """
    area = int(mask.sum())
    if area == 0:
        return mask, 0.0
    colour = foreground_mask(rgb)
    if (colour & mask).sum() < MIN_INSIDE * area:
        return mask, 0.0
    perimeter = 2 * (mask.shape[0] + mask.shape[1])
    if border_pixels(colour) > border_pixels(mask) + BORDER_SLACK * perimeter:
        return mask, 0.0
    joined = colour | mask
    gain = float(joined.sum() - area) / area
    if gain + 1.0 > MAX_GROWTH or gain < MIN_GAIN:
        return mask, 0.0
    return joined, gain
