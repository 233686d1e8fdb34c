"""People seen from the front or back: MediaPipe's legs put on the side and the legs the mask shows.

Seen from the front or the back, MediaPipe Pose sometimes puts a knee or an ankle in the gap
between two legs that stand apart, or the left ankle on the right leg and the right one on the
left (front and back views of tuning people 1020-1076: 9 of 114 under "clear" light, 8 of them
from behind; none of 114 under "wild"). Under a skirt or a long coat it may label the legs as
if the person faced the camera while the torso faces away (or the reverse): the knees and
ankles cross over to the other side. Fitted to such landmarks the legs bend into the gap or
cross, and the silhouette terms do not pull them out (the landmark term wins): silhouette IoU
0.69 on those 9 views, 0.80 with the two rules below.

1. Where a person seen squarely from the front or back has the ankles the other way round
   from the shoulders and hips (taken together, so a pair of hips that collapsed to the middle
   does not decide alone) and the knees do not clearly disagree, the leg labels are swapped
   (:func:`legs_facing_torso`).
2. Where the person mask's row through a knee or ankle holds exactly two leg-wide runs with a
   gap between them, each leg belongs on the run on its torso side (the image order, so this
   holds whichever way the person faces). A knee or ankle outside its own leg's run is moved
   sideways to the run's centre; an ankle takes its heel and big toe with it. The world
   landmarks move by the same amount in metres (:func:`legs_on_mask`).

A person standing with crossed legs is uncrossed by these rules.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pifuhd.body.detect import PersonLandmarks
from pifuhd.body.facing import torso_facing
from pifuhd.body.gait import SIDE_FACING, leg_swapped

LEGS = {"L": (25, (27, 29, 31)), "R": (26, (28, 30, 32))}
"""Side -> MediaPipe knee, and the ankle with the landmarks that move with it (heel, big toe)."""

TORSO = {"L": (11, 23), "R": (12, 24)}
"""Side -> MediaPipe shoulder and hip."""

FACING = 0.85
"""|z| of MediaPipe's unit torso normal at or above which the legs' labels are checked against
the torso's (:func:`legs_reversed`): squarely from the front or back. A walker seen at three
quarters (0.59 in a real group photo) puts the back foot on the far side of the front one."""

REVERSED = 0.1
"""Ankles (and knees) further than this, in torso lengths, the other way round from the
shoulders and hips in the image are labelled for the opposite facing (:func:`legs_reversed`)."""

MIN_RUN = 0.08
"""Narrowest run of the mask's row counted as a leg, in torso lengths (mid-shoulders to
mid-hips in the image; a shin is about 0.2)."""

MIN_GAP = 0.02
"""Narrowest gap between the two runs, in torso lengths: legs that touch are one run."""


def mask_runs(row: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` pixel spans (stop exclusive) of the True runs of a (W,) bool row."""
    step = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(step == 1).tolist(), np.flatnonzero(step == -1).tolist()
    return list(zip(starts, stops, strict=True))


def torso_length(image_xy: np.ndarray) -> float:
    """Mid-shoulders to mid-hips of (33, 2) MediaPipe image landmarks."""
    shoulders, hips = 0.5 * (image_xy[11] + image_xy[12]), 0.5 * (image_xy[23] + image_xy[24])
    return float(np.linalg.norm(shoulders - hips))


def two_legs(mask: np.ndarray, y: float, torso: float) -> list[tuple[int, int]] | None:
    """The two leg runs, left to right, of an (H, W) bool mask's row at height ``y`` (pixels),
    or None where that row does not hold exactly two runs at least :data:`MIN_RUN` wide with
    a gap of at least :data:`MIN_GAP` (torso lengths ``torso`` in pixels)."""
    row = int(np.floor(y))  # pixel i covers [i, i + 1)
    if not 0 <= row < mask.shape[0]:
        return None
    legs = [(a, b) for a, b in mask_runs(mask[row]) if b - a >= MIN_RUN * torso]
    if len(legs) != 2 or legs[1][0] - legs[0][1] < MIN_GAP * torso:
        return None
    return legs


def side_order(image_xy: np.ndarray) -> list[str]:
    """The person's sides ("L", "R") in image order, left first, by the shoulders and hips
    together (a collapsed pair of hips does not decide alone)."""
    x = image_xy[:, 0]
    return sorted("LR", key=lambda s: x[TORSO[s][0]] + x[TORSO[s][1]])


def legs_reversed(image_xy: np.ndarray, world: np.ndarray) -> bool:
    """Whether a front or back view's legs are labelled the other way round from its torso:
    the ankles further than :data:`REVERSED` torso lengths in the opposite image order from
    the shoulders and hips, and the knees not clearly in theirs (MediaPipe read the legs as
    facing the camera and the torso as facing away, or the reverse; module docstring).

    Args:
        image_xy: (33, 2) MediaPipe image landmarks, x right, y down.
        world: (33, 3) MediaPipe world landmarks, z away from the camera.
    """
    torso = torso_length(image_xy)
    if abs(torso_facing(world)) < FACING or torso < 1e-9:
        return False
    first, second = side_order(image_xy)
    x = image_xy[:, 0] / torso
    knee = x[LEGS[second][0]] - x[LEGS[first][0]]
    ankle = x[LEGS[second][1][0]] - x[LEGS[first][1][0]]
    return bool(ankle < -REVERSED and knee < REVERSED)


def leg_shifts(image_xy: np.ndarray, world: np.ndarray, mask: np.ndarray) -> dict[int, float]:
    """MediaPipe landmark -> x shift (pixels) putting each knee and ankle that lies outside its
    own leg's run of the mask onto that run's centre (module docstring); empty in side views
    and where nothing is outside.

    Args:
        image_xy: (33, 2) MediaPipe image landmarks in the mask's pixels, x right, y down.
        world: (33, 3) MediaPipe world landmarks (x right, y down, z away).
        mask: (H, W) bool person mask.
    """
    torso = torso_length(image_xy)
    if abs(torso_facing(world)) <= SIDE_FACING or torso < 1e-9:
        return {}
    order = side_order(image_xy)
    shifts: dict[int, float] = {}
    for rank, side in enumerate(order):
        knee, (ankle, *foot) = LEGS[side]
        for index, moving in ((knee, (knee,)), (ankle, (ankle, *foot))):
            x, y = image_xy[index]
            legs = two_legs(mask, y, torso)
            if legs is None or legs[rank][0] <= x <= legs[rank][1]:
                continue
            dx = 0.5 * (legs[rank][0] + legs[rank][1]) - x
            shifts.update({i: dx for i in moving})
    return shifts


def legs_facing_torso(person: PersonLandmarks) -> tuple[PersonLandmarks, bool]:
    """The detection with its legs relabelled where they face the other way from its torso
    (:func:`legs_reversed`), and whether they were."""
    if legs_reversed(person.image_xy, np.asarray(person.world, np.float64)):
        return leg_swapped(person), True
    return person, False


def legs_on_mask(person: PersonLandmarks) -> tuple[PersonLandmarks, bool]:
    """The detection with its knees and ankles moved onto their legs' runs of the mask
    (:func:`leg_shifts`), and whether anything moved."""
    world = np.asarray(person.world, np.float64)
    shifts = leg_shifts(person.image_xy, world, person.mask > 0.5)
    if not shifts:
        return person, False
    xy, moved_world = person.image_xy.copy(), world.copy()
    torso_m = np.linalg.norm(0.5 * (world[11] + world[12]) - 0.5 * (world[23] + world[24]))
    metres = torso_m / torso_length(xy)
    for index, dx in shifts.items():
        xy[index, 0] += dx
        moved_world[index, 0] += dx * metres
    return replace(person, image_xy=xy, world=moved_world), True
