"""Hands above the head that MediaPipe missed, found in the person mask.

Seen from the side, an arm waved or raised above the head is where MediaPipe Pose often gives
up: it reads the seen arm as bent at the chest and guesses the hidden one hanging, while the
person mask rises well above the head (on a held-out person waving both hands, seen from the
side, the mask's top lay 1.5 ear-to-shoulder lengths above the ears with both MediaPipe wrists
below the shoulders; people with their hands down: 0.7-0.9). A body fitted to such landmarks
has no hand up there, and the reconstruction's carving by the body then cuts the raised hands
off.

Where the mask rises more than :data:`ABOVE_HEAD` ear-to-shoulder lengths and :data:`ABOVE_TORSO`
torso lengths above the ears and no MediaPipe wrist lies above the ears, the arm MediaPipe sees
least (its wrist's visibility) is taken to be the raised one: its wrist is put a hand's length
below the mask's top, under the middle of the mask's highest rows (its visibility raised to
:data:`WRIST_WEIGHT`), and its elbow halfway between its shoulder and that wrist, with the
elbow's visibility set to zero (its 2D weight falls to the fitter's minimum), in the image and,
by the same amount in metres, in the world landmarks (:func:`hands_raised`). Where MediaPipe's
whole skeleton has shrunk inside the person (its shoulders at the neck), the head's top itself
reads as raised hands: the known misfire (held-out seed 1014, a long skirt seen from the side).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pifuhd.body.detect import PersonLandmarks

ABOVE_HEAD = 1.4
"""The mask's top above the ears, in ear-to-shoulder lengths (image), beyond which something is
raised above the head: people with their hands down measured 0.7-0.9 (hair included), hands
waved or raised above the head 1.0-2.4; 1.2 also took in a person whose MediaPipe shoulders sat
10 cm too high (1.25, synthetic) and a runner with the head bent forward (1.21, a real photo)."""

ABOVE_TORSO = 0.45
"""The same height in torso lengths (mid-shoulders to mid-hips, image), also required: a head
bent forward or shoulders drawn up shorten the ear-to-shoulder length (a runner and a person
sitting with the head on a hand, real photos: 1.21 and 1.56 ear-to-shoulder lengths, but 0.35
and 0.43 torso lengths); hands down 0.25-0.34, a hand above the head 0.48-0.81."""

HAND = 0.8
"""Wrist to fingertips, in ear-to-shoulder lengths (about 18 cm against 22)."""

WRIST_WEIGHT = 0.5
"""Visibility given to the raised wrist (at least): the mask shows something there."""

ARMS = {"L": (11, 13, 15), "R": (12, 14, 16)}
"""Side -> MediaPipe (shoulder, elbow, wrist)."""


def raised_top(
    image_xy: np.ndarray,
    mask: np.ndarray,
    above_head: float = ABOVE_HEAD,
    above_torso: float = ABOVE_TORSO,
) -> int | None:
    """The (H, W) bool person mask's top row where it rises above the head by more than
    ``above_head`` ear-to-shoulder lengths and ``above_torso`` torso lengths (something raised
    above the head, wherever MediaPipe put the wrists), else None. image_xy: (33, 2) MediaPipe
    image landmarks in the mask's pixels (x right, y down)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    ears = 0.5 * (image_xy[7] + image_xy[8])
    shoulders = 0.5 * (image_xy[11] + image_xy[12])
    unit = float(shoulders[1] - ears[1])
    if unit <= 1e-6:
        return None  # the head not above the shoulders: not an upright person
    top = int(rows[0])
    torso = float(np.linalg.norm(shoulders - 0.5 * (image_xy[23] + image_xy[24])))
    if ears[1] - top < max(above_head * unit, above_torso * torso):
        return None
    return top


def raised_wrist(image_xy: np.ndarray, mask: np.ndarray) -> tuple[float, float] | None:
    """(x, y) pixels where a hand raised above the head has its wrist, from the (H, W) bool
    person mask and MediaPipe's (33, 2) image landmarks (x right, y down), or None where the
    mask does not rise above the head or MediaPipe already has a wrist above the ears."""
    top = raised_top(image_xy, mask)
    if top is None:
        return None
    ears = 0.5 * (image_xy[7] + image_xy[8])
    if min(image_xy[15, 1], image_xy[16, 1]) < ears[1]:
        return None
    unit = float(0.5 * (image_xy[11, 1] + image_xy[12, 1]) - ears[1])
    wrist_y = top + HAND * unit
    band = mask[top : int(np.ceil(wrist_y)) + 1]
    _, xs = np.nonzero(band)
    return float(xs.mean() + 0.5), float(wrist_y)


def hands_raised(person: PersonLandmarks) -> tuple[PersonLandmarks, bool]:
    """The detection with its least-seen arm raised into the mask above the head (module
    docstring), and whether it was."""
    target = raised_wrist(person.image_xy, person.mask > 0.5)
    if target is None:
        return person, False
    side = "L" if person.visibility[15] <= person.visibility[16] else "R"
    shoulder, elbow, wrist = ARMS[side]
    xy = person.image_xy.copy()
    world = np.asarray(person.world, np.float64).copy()
    torso_px = np.linalg.norm(0.5 * (xy[11] + xy[12]) - 0.5 * (xy[23] + xy[24]))
    torso_m = np.linalg.norm(0.5 * (world[11] + world[12]) - 0.5 * (world[23] + world[24]))
    metres = torso_m / max(torso_px, 1e-9)
    new = {wrist: np.asarray(target), elbow: 0.5 * (xy[shoulder] + np.asarray(target))}
    for index, point in new.items():
        world[index, :2] += (point - xy[index]) * metres
        xy[index] = point
    visibility = person.visibility.copy()
    visibility[elbow] = 0.0
    visibility[wrist] = max(float(visibility[wrist]), WRIST_WEIGHT)
    return replace(person, image_xy=xy, world=world, visibility=visibility), True
