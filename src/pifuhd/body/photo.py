"""A photo in, fitted bodies out: MediaPipe detection, the crop, the fit (``fit_body``).

Each person's crop follows ``pifuhd reconstruct``'s rule for a person mask (a square around
the mask, the person filling 88 % of its side) unless a crop is given, so a fitted body lies in
exactly the cube (and, with ``cube_to_pixel_matrix``, the pixel frame) of the reconstruction.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from pifuhd.body.anny import load_anny
from pifuhd.body.arms import SIDE_FACING, hands_on_hips, load_arms, torso_crop
from pifuhd.body.detect import PersonLandmarks, detect_people
from pifuhd.body.facing import facing_corrected, torso_facing
from pifuhd.body.feet import feet_placed
from pifuhd.body.fit import FitSettings, fit_observations
from pifuhd.body.fit_terms import LANDMARK_KEYPOINTS
from pifuhd.body.gait import gait_corrected
from pifuhd.body.lift import load_lift
from pifuhd.body.observations import (
    BodyFit,
    FitObservations,
    crop_in_image,
    mask_to_crop,
    mediapipe_world_to_cube,
    pixels_to_cube,
)
from pifuhd.body.plain_mask import completed_mask
from pifuhd.body.raised import hands_raised
from pifuhd.body.stance import legs_facing_torso, legs_on_mask
from pifuhd.errors import InputError
from pifuhd.io.crops import CropRect, rect_from_mask
from pifuhd.io.images import load_image

log = logging.getLogger(__name__)

BORDER_MARGIN = 2
"""A person mask within this many pixels of the image border is cut by it."""

BORDER_WARNING = "the person is cut by the image border; the hidden part is a guess"

OUTSIDE_CROP_NOTE = "most of this person lies outside the given crop; fitted in their own crop"

UNRELIABLE_CM = 8.0
"""Mean 2D landmark error (cube units x 100, about cm) above which a fit is flagged: good fits
of synthetic renders end at 1-3, fits that went wrong at 7.6 and more."""

FACING_NOTE = "left and right swapped: the face test contradicted MediaPipe's facing"

RAISED_NOTE = "an arm raised into the person mask above the head: MediaPipe had no hand there"

FEET_NOTE = "feet moved onto the two feet the person mask shows: MediaPipe collapsed the stride"

ARMS_NOTE = "a hand on the hip seen from the side: {} arm's depths taken from the photo"

ARM_NAMES = {"L": "the left", "R": "the right"}

GAIT_NOTE = "legs relabelled: MediaPipe's legs swung with the arms on the same side"

LEGS_NOTE = "knees or ankles moved onto their own legs of the person mask"

LEGS_TURNED_NOTE = "legs relabelled: MediaPipe's legs faced the other way from its torso"

PADDED_NOTE = (
    "MediaPipe found the person whole only on the photo padded around them (it framed only the"
    " upper body, or nobody, at first)"
)

PLAIN_NOTE = "person mask completed from the plain background: {:.0%} more than MediaPipe's"

PLAIN_NOTE_GAIN = 0.1
"""A completion that grows MediaPipe's mask by less than this is used without a warning."""


def observations(
    person: PersonLandmarks,
    image_size: tuple[int, int],
    crop: CropRect | None = None,
    silhouette: np.ndarray | None = None,
) -> FitObservations:
    """One detected person as the fitter's observations in ``crop`` (default: the crop
    ``pifuhd reconstruct`` would choose from this person's mask, grown to hold their visible
    landmarks where the mask holds only part of them). ``silhouette``: the (H, W) bool mask
    the silhouette terms fit (default: the person's mask); the crop never follows it."""
    mask = person.mask > 0.5
    if crop is None:
        crop = rect_from_mask(mask | landmark_box(person, mask.shape), source="mediapipe")
    return FitObservations(
        keypoints=pixels_to_cube(person.image_xy, crop),
        visibility=np.asarray(person.visibility, np.float64),
        world=mediapipe_world_to_cube(np.asarray(person.world, np.float64)),
        mask=mask_to_crop(mask if silhouette is None else silhouette, crop),
        crop=crop,
        image_size=image_size,
        known=crop_in_image(image_size, crop),
    )


def landmark_box(
    person: PersonLandmarks, shape: tuple[int, int], visible: float = 0.5
) -> np.ndarray:
    """(H, W) bool: the box around the person's visible fitted landmarks, within the image."""
    box = np.zeros(shape, dtype=bool)
    ids = [i for i in sorted(LANDMARK_KEYPOINTS) if person.visibility[i] > visible]
    if len(ids) < 2:
        return box
    xy = person.image_xy[ids]
    x0, y0 = np.floor(xy.min(axis=0)).astype(int)
    x1, y1 = np.ceil(xy.max(axis=0)).astype(int)
    box[max(0, y0) : max(0, y1 + 1), max(0, x0) : max(0, x1 + 1)] = True
    return box


def share_in_crop(person: PersonLandmarks, crop: CropRect) -> float:
    """Share of a person's fitted landmarks (``LANDMARK_KEYPOINTS``) inside a crop square."""
    xy = person.image_xy[sorted(LANDMARK_KEYPOINTS)]
    inside = (
        (xy[:, 0] >= crop.x)
        & (xy[:, 0] <= crop.x + crop.w)
        & (xy[:, 1] >= crop.y)
        & (xy[:, 1] <= crop.y + crop.h)
    )
    return float(inside.mean())


def touches_border(mask: np.ndarray, margin: int = BORDER_MARGIN) -> bool:
    """Whether an (H, W) person mask reaches within ``margin`` pixels of the image border."""
    m = mask > 0.5
    return bool(
        m[:margin].any() or m[-margin:].any() or m[:, :margin].any() or m[:, -margin:].any()
    )


def fit_person(
    person: PersonLandmarks,
    rgb: np.ndarray,
    crop: CropRect | None = None,
    settings: FitSettings | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    complete_mask: bool = False,
) -> BodyFit:
    """Fit one person detected in an (H, W, 3) [0, 1] image, in ``crop`` (None: the crop of
    the person's own mask); left and right are swapped first where the face test says MediaPipe
    read the person's facing wrongly (``pifuhd.body.facing``), and a side view's legs where
    the arms' swing says MediaPipe labelled them the wrong way round (``pifuhd.body.gait``),
    after its feet are put on the mask's feet where it collapsed the stride
    (``pifuhd.body.feet``); a front or back view's knees and ankles go onto their own legs of
    the mask (``pifuhd.body.stance``). ``complete_mask``: the silhouette terms fit MediaPipe's
    mask joined with the plain background's colour mask (``pifuhd.body.plain_mask``; for a
    person alone in the photo); the rules above and the crop keep MediaPipe's.
    Warns when the image border cuts the person."""
    settings = settings or FitSettings()
    silhouette, notes = None, []
    if complete_mask:
        joined, gain = completed_mask(rgb, person.mask > 0.5)
        silhouette = joined if gain > 0.0 else None
        notes += [PLAIN_NOTE.format(gain)] if gain >= PLAIN_NOTE_GAIN else []
    notes += [PADDED_NOTE] if person.padded else []
    person, swapped = facing_corrected(rgb, person)
    notes += [FACING_NOTE] if swapped else []
    if settings.raised:
        person, lifted = hands_raised(person)
        notes += [RAISED_NOTE] if lifted else []
    if settings.feet:
        person, placed = feet_placed(person)
        notes += [FEET_NOTE] if placed else []
    if settings.gait:
        person, relabelled = gait_corrected(person)
        notes += [GAIT_NOTE] if relabelled else []
    if settings.legs:
        person, turned = legs_facing_torso(person)
        person, placed = legs_on_mask(person)
        notes += [LEGS_TURNED_NOTE] if turned else []
        notes += [LEGS_NOTE] if placed else []
    if crop is not None and share_in_crop(person, crop) < 0.5:
        crop = None
        notes.append(OUTSIDE_CROP_NOTE)
    obs = observations(person, rgb.shape[:2], crop, silhouette)
    if settings.arms and abs(torso_facing(person.world)) <= SIDE_FACING:
        obs.arm_crop = torso_crop(rgb, person.mask, person.image_xy)
        if settings.lift and load_lift() is not None and load_arms() is not None:
            sides = hands_on_hips(obs.arm_crop, obs.keypoints, obs.world, obs.visibility)
            notes += [ARMS_NOTE.format(" and ".join(ARM_NAMES[s] for s in sides))] if sides else []
    fit = fit_observations(obs, load_anny(cache_dir), settings)
    fit.warnings.extend(notes)
    error = fit.residuals["stage3"]["landmark_error_cube_x100"]
    if error > UNRELIABLE_CM:
        fit.warnings.append(
            f"the body does not match the landmarks (mean 2D error {error:.1f} cm): unreliable"
        )
    if touches_border(person.mask):
        fit.warnings.append(BORDER_WARNING)
    return fit


def fit_people(
    rgb: np.ndarray,
    crop: CropRect | None = None,
    *,
    max_people: int = 4,
    settings: FitSettings | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    complete_mask: bool = True,
) -> list[BodyFit]:
    """Fit a body to every person MediaPipe finds in an (H, W, 3) float32 [0, 1] image,
    largest first; [] when there is nobody. ``crop`` forces one crop for every person.
    ``complete_mask``: where MediaPipe finds one person, complete their mask from a plain
    background (``fit_person``)."""
    people = detect_people(rgb, max_people=max_people)
    if not people:
        return []
    if crop is not None:  # the person the crop was made for first
        people = sorted(people, key=lambda p: -share_in_crop(p, crop))
    alone = complete_mask and len(people) == 1
    return [fit_person(p, rgb, crop, settings, cache_dir, alone) for p in people]


def fit_body(
    image: str | os.PathLike[str] | np.ndarray,
    crop: CropRect | None = None,
    **kwargs,
) -> BodyFit:
    """The body of the largest person in a photo (a path or an (H, W, 3) float32 [0, 1] array).

    Raises:
        InputError: when no person is found. Several people: the largest is fitted, with a
            warning naming the count (``fit_people`` fits each).
    """
    source = str(image) if not isinstance(image, np.ndarray) else "image"
    rgb = image if isinstance(image, np.ndarray) else load_image(image).rgb
    fits = fit_people(rgb, crop, **kwargs)
    if not fits:
        raise InputError(f"{source}: no person found; use a photo with one person in view")
    best = fits[0]
    if len(fits) > 1:
        best.warnings.append(f"{len(fits)} people found; fitted the largest")
        log.warning("%s: %d people found; fitted the largest", source, len(fits))
    return best
