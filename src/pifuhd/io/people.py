"""The people of one photo: each one's crop square and person mask.

A photo gives one :class:`PersonInput` per person to reconstruct. Sources, as
:func:`pifuhd.io.crops.resolve_crop` orders them: a crop the user gave (``--rect``,
``--keypoints``, ``--mask``, side files, alpha) is one person, whose mask is the given mask or
alpha, else the MediaPipe person that fills most of the crop; otherwise MediaPipe finds the
people (each its own mask and crop), and without MediaPipe (or when it finds nobody) the
plain-background estimate gives one. Masks are (H, W) bool over the photo, True on the person.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pifuhd.body.detect import MediaPipeMissingError, PersonLandmarks, detect_people
from pifuhd.errors import InputError
from pifuhd.io.crops import CropRect, given_crop, rect_from_mask
from pifuhd.io.images import LoadedImage
from pifuhd.io.person_mask import foreground_mask, read_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonInput:
    """One person to reconstruct.

    Attributes:
        crop: the square crop in photo pixels (may reach past the photo).
        method: how the crop was chosen (``pifuhd.io.crops.CROP_METHODS``).
        mask: (H, W) bool person mask over the photo, or None when none is known.
        mask_method: where the mask came from ("mask", "alpha", "mediapipe", "foreground") or
            None.
        landmarks: MediaPipe's landmarks of this person (for a body fit), or None.
    """

    crop: CropRect
    method: str
    mask: np.ndarray | None
    mask_method: str | None
    landmarks: PersonLandmarks | None = None


def overlap_share(crop: CropRect, height: int, width: int) -> float:
    """Share of the crop square's area that lies inside an (height, width) photo."""
    w = max(0, min(crop.x + crop.w, width) - max(crop.x, 0))
    h = max(0, min(crop.y + crop.h, height) - max(crop.y, 0))
    return w * h / float(crop.w * crop.h)


def check_crop_in_photo(crop: CropRect, image: LoadedImage, method: str) -> None:
    """InputError when a given crop does not overlap the photo at all."""
    if overlap_share(crop, image.height, image.width) == 0.0:
        raise InputError(
            f"{image.source}: the crop {crop.as_tuple()} ({method}) lies outside the "
            f"{image.width}x{image.height} photo; give a rect inside it (x y w h in pixels)"
        )


def _detected(image: LoadedImage, max_people: int) -> list[PersonLandmarks] | None:
    """MediaPipe's people (largest first), or None when MediaPipe is not installed or fails
    (a warning)."""
    try:
        return detect_people(image.rgb, max_people=max_people)
    except MediaPipeMissingError as exc:
        logger.debug("no MediaPipe person masks: %s", exc)
        return None
    except RuntimeError as exc:  # MediaPipe's graph and model errors: fall back, said aloud
        logger.warning("%s: MediaPipe failed (%s); without its person masks", image.source, exc)
        return None


def _mask_in_crop(mask: np.ndarray, crop: CropRect) -> int:
    """Pixels of ``mask`` inside ``crop``."""
    return int(mask[max(crop.y, 0) : crop.y + crop.h, max(crop.x, 0) : crop.x + crop.w].sum())


def _given_mask(
    image_path: Path | None, image: LoadedImage, mask: str | os.PathLike[str] | None, method: str
) -> np.ndarray | None:
    """The mask the user gave along with the crop (explicit, side file or alpha), if any."""
    if method == "alpha" and image.alpha is not None:
        return image.alpha > 0.5
    if method != "mask":
        return None
    path = Path(mask) if mask is not None else None
    if path is None and image_path is not None:
        path = Path(image_path).with_name(f"{Path(image_path).stem}_mask.png")
    return None if path is None else read_mask(path)


def find_people(
    image_path: Path | None,
    image: LoadedImage,
    rect: str | None = None,
    keypoints: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    keypoints_mode: str = "fullbody",
    max_people: int = 4,
    detect: bool = True,
) -> list[PersonInput]:
    """The people to reconstruct in one photo (module docstring), largest first.

    detect: with a given crop, also look for the person with MediaPipe (their mask and
    landmarks); False skips it (about a second) when nothing downstream reads them.

    Raises:
        InputError: a given crop lies outside the photo, or no person can be told from the
            background.
    """
    given = given_crop(image_path, image, rect, keypoints, mask, keypoints_mode)
    if given is not None:
        crop, method = given
        check_crop_in_photo(crop, image, method)
        person_mask = _given_mask(image_path, image, mask, method)
        found = (_detected(image, max_people) if detect else None) or []
        best = max(found, key=lambda p: _mask_in_crop(p.mask > 0.5, crop), default=None)
        if (
            best is not None
            and _mask_in_crop(best.mask > 0.5, crop) <= 0.5 * (best.mask > 0.5).sum()
        ):
            best = None  # nobody MediaPipe found is mostly in this crop
        if person_mask is not None:
            return [PersonInput(crop, method, person_mask, method, best)]
        if best is not None:
            return [PersonInput(crop, method, best.mask > 0.5, "mediapipe", best)]
        return [PersonInput(crop, method, None, None)]
    found = _detected(image, max_people)
    if found:
        people = [(p.mask > 0.5, p) for p in found]
        return [
            PersonInput(rect_from_mask(m, source=image.source), "mediapipe", m, "mediapipe", p)
            for m, p in people
            if m.any()
        ]
    plain = foreground_mask(image.rgb)
    if not plain.any():
        raise InputError(
            f"{image.source}: cannot tell the person from the background; "
            "pass --rect, --keypoints or --mask"
        )
    return [
        PersonInput(rect_from_mask(plain, source=image.source), "foreground", plain, "foreground")
    ]
