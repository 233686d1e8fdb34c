"""People seen from the front or back: MediaPipe's knees and ankles put on the legs the mask shows.

Seen from the front or the back, MediaPipe Pose sometimes puts a knee or an ankle in the gap
between two legs that stand apart, or the left ankle on the right leg and the right one on the
left (front and back views of tuning people 1020-1076: 9 of 114 under "clear" light, 8 of them
from behind; none of 114 under "wild"). Fitted to such landmarks the legs bend into the gap or
cross, and the silhouette terms do not pull them out (the landmark term wins): silhouette IoU
0.69 on those 9 views, 0.80 with the rule below.

Where the person mask's row through such a landmark holds exactly two leg-wide runs with a gap
between them, each leg belongs on the run on its hip's side (the hips taken in their image
order, so this holds whichever way the person faces). A knee or ankle outside its own leg's run
is moved sideways to the run's centre; an ankle takes its heel and big toe with it. The world
landmarks move by the same amount in metres (:func:`legs_on_mask`). A person standing with
crossed legs is uncrossed by this rule.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pifuhd.body.detect import PersonLandmarks
from pifuhd.body.facing import torso_facing
from pifuhd.body.gait import SIDE_FACING

LEGS = {"L": (25, (27, 29, 31)), "R": (26, (28, 30, 32))}
"""Side -> MediaPipe knee, and the ankle with the landmarks that move with it (heel, big toe)."""

HIPS = {"L": 23, "R": 24}

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
    order = sorted("LR", key=lambda s: image_xy[HIPS[s], 0])
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
