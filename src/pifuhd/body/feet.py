"""Walkers seen from the side: MediaPipe's feet put back on the two feet the mask shows.

Seen from the side, a long stride is where MediaPipe Pose often gives up: it puts both ankles
within a few centimetres of each other, between the feet or on one of them, while the person
mask shows two feet half a metre apart (on MediaPipe's observations of synthetic walkers seen
from the side, a stride over 25 cm came out under half its length in 47 of 601 views). Fitted to
such landmarks the legs stand together, and the person mask's silhouette terms do not pull them
apart (the landmark term wins).

The mask's lowest band (:data:`LEG_BAND` of its height, the feet and ankles) then holds two
separate blobs. Where it does, in a side view, and MediaPipe's two ankles are not one on each,
each leg's foot landmarks (ankle, heel, toe) are moved sideways onto a blob (the legs taken in
their image order) and the knees spread to at least half the feet's distance, in the image and,
by the same amount in metres, in the world landmarks (:func:`feet_placed`). Which leg is the
near one is left to the labels, and to ``pifuhd.body.gait`` after this step.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from pifuhd.body.detect import PersonLandmarks
from pifuhd.body.facing import torso_facing
from pifuhd.body.gait import SIDE_FACING

BAND = 0.06
"""Height of the mask's lowest band read for the feet, as a share of the mask's height (about
11 cm of a standing adult: the feet and the ankles)."""

CUT = 2
"""A mask within this many pixels of the image's lower border has its feet cut off."""

LEG_BAND = 0.09
"""Height of the band (share of the mask's height, about 16 cm: feet and ankles) over which the
two feet must be separate blobs. A hole in the mask splits one shoe into two blobs in the lowest
few cm (a standing person in wide trousers, seen from the side), never over this height; 0.12
also lost long coats whose hem comes down to mid-shin."""

MIN_SHARE = 0.15
"""Smallest share of the band's pixels a blob must hold to count as a foot."""

MIN_GAP = 0.1
"""Smallest gap between the two foot blobs, in torso lengths (mid-shoulders to mid-hips in the
image): feet that touch are one blob, and nothing is moved."""

MIN_STRIDE = 0.5
"""Smallest distance between the two blobs' ankle centres, in torso lengths (about a foot's
length). Where a dark shoe falls out of the mask, its toe and the ankle above it are two blobs
closer than that, not two feet."""

ON_FOOT = 0.05
"""How far outside a blob (torso lengths) an ankle may lie and still count as on it."""

KNEE_SPREAD = 0.5
"""Knees at least this share of the ankles' distance apart (a stride seen from the side bends
at the hips: the knees lie about halfway); where MediaPipe put them closer, they are spread."""

LEGS = {"L": (25, 27, 29, 31), "R": (26, 28, 30, 32)}
"""Side -> MediaPipe (knee, ankle, heel, big toe)."""


def foot_blobs(
    mask: np.ndarray, band: float = BAND, legs: float = LEG_BAND
) -> list[tuple[float, float, float]]:
    """The feet in an (H, W) bool person mask, left to right: ``(x0, x1, centre)`` in pixels
    for each separate lower leg, i.e. each blob of the mask's lowest ``legs`` (a share of its
    height) holding at least :data:`MIN_SHARE` of that band's pixels; ``x0, x1`` span the
    blob's part in the lowest ``band`` (the foot) and ``centre`` is the mean x of that part's
    upper half (the ankle, not the toes). Blobs must be separate over the taller band: two feet
    that the mask (or a hole in it) splits under one trouser leg are not two legs. Empty where
    the mask reaches the image's lower border (the feet are not in the photo)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0 or rows[-1] >= mask.shape[0] - CUT:
        return []  # nobody, or the feet cut off by the image's lower border
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    start = max(top, int(np.rint(bottom + 1 - legs * height)))
    foot_start = int(np.rint(bottom + 1 - band * height)) - start
    ankle_end = int(np.rint(bottom + 1 - 0.5 * band * height)) - start
    strip = mask[start : bottom + 1]
    labels, count = ndimage.label(strip)
    total = max(int(strip.sum()), 1)
    blobs = []
    for k in range(1, count + 1):
        ys, xs = np.nonzero(labels == k)
        if len(xs) < MIN_SHARE * total:
            continue
        foot = xs[ys >= foot_start]
        ankle = xs[(ys >= foot_start) & (ys < ankle_end)]
        if len(foot) == 0 or len(ankle) == 0:
            continue
        blobs.append((float(foot.min()), float(foot.max() + 1), float(ankle.mean() + 0.5)))
    return sorted(blobs, key=lambda b: b[0])


def _on(x: float, blob: tuple[float, float, float], margin: float) -> bool:
    return blob[0] - margin <= x <= blob[1] + margin


def foot_shifts(
    image_xy: np.ndarray, world: np.ndarray, mask: np.ndarray
) -> dict[int, float] | None:
    """MediaPipe landmark -> x shift (pixels) putting each leg's foot onto the centre of its
    own foot blob (ankle, heel and toe by the same amount; also a foot that was on its blob:
    on tuning people the blob's centre did better than MediaPipe's ankle there) and spreading
    the knees to at least :data:`KNEE_SPREAD` of the new ankles' distance (about their
    midpoint, in the ankles' order). None where nothing should move: not a side view, not two
    feet apart in the mask, blobs closer than a stride, or MediaPipe's ankles already one on
    each.

    Args:
        image_xy: (33, 2) MediaPipe image landmarks in the mask's pixels, x right, y down.
        world: (33, 3) MediaPipe world landmarks (x right, y down, z away).
        mask: (H, W) bool person mask.
    """
    if abs(torso_facing(world)) > SIDE_FACING:
        return None
    torso = float(
        np.linalg.norm(0.5 * (image_xy[11] + image_xy[12]) - 0.5 * (image_xy[23] + image_xy[24]))
    )
    blobs = foot_blobs(mask)
    if torso < 1e-9 or len(blobs) != 2 or blobs[1][0] - blobs[0][1] < MIN_GAP * torso:
        return None
    if blobs[1][2] - blobs[0][2] < MIN_STRIDE * torso:
        return None
    ankles = {s: float(image_xy[LEGS[s][1], 0]) for s in "LR"}
    margin = ON_FOOT * torso
    first, second = sorted("LR", key=lambda s: ankles[s])
    if _on(ankles[first], blobs[0], margin) and _on(ankles[second], blobs[1], margin):
        return None
    shifts: dict[int, float] = {}
    for side, blob in ((first, blobs[0]), (second, blobs[1])):
        for index in LEGS[side][1:]:
            shifts[index] = blob[2] - ankles[side]
    k1, k2 = (float(image_xy[LEGS[s][0], 0]) for s in (first, second))
    placed = [ankles[s] + shifts.get(LEGS[s][1], 0.0) for s in (first, second)]
    spread = KNEE_SPREAD * (placed[1] - placed[0])
    if k2 - k1 < spread:
        middle = 0.5 * (k1 + k2)
        shifts[LEGS[first][0]] = middle - 0.5 * spread - k1
        shifts[LEGS[second][0]] = middle + 0.5 * spread - k2
    return shifts


def feet_placed(person: PersonLandmarks) -> tuple[PersonLandmarks, bool]:
    """The detection with each leg's foot landmarks moved onto its own foot blob of the mask
    and the knees spread (module docstring, :func:`foot_shifts`), and whether anything moved."""
    world = np.asarray(person.world, np.float64)
    shifts = foot_shifts(person.image_xy, world, person.mask > 0.5)
    if shifts is None:
        return person, False
    xy, moved_world = person.image_xy.copy(), world.copy()
    torso_px = np.linalg.norm(0.5 * (xy[11] + xy[12]) - 0.5 * (xy[23] + xy[24]))
    torso_m = np.linalg.norm(0.5 * (world[11] + world[12]) - 0.5 * (world[23] + world[24]))
    metres = torso_m / max(torso_px, 1e-9)
    for index, dx in shifts.items():
        xy[index, 0] += dx
        moved_world[index, 0] += dx * metres
    return replace(person, image_xy=xy, world=moved_world), True
