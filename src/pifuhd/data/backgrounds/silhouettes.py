"""Other people at the frame edges: capsule-built silhouettes, shaded, cut by the border.

A figure is a union of capsules (segment + radius) in person units: height 1, feet at y = 0,
y up, x = 0 through the body. It is placed standing on the floor of the scene's
:class:`.scenes.Layout` (so nearer people are bigger) against the left or right
border, with its innermost point no further than ``EDGE_BAND`` of the width from that border
and its outermost point beyond it: only part of it shows, never the centre of the frame
where the training subject is. Image units as in :mod:`.draw`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pifuhd.data.backgrounds.draw import hsv, lambert, paint, pixel_grid, soft_alpha, window

EDGE_BAND = 0.2
"""A figure's innermost point lies at most this far (image widths) from its border."""

BODY_CAPSULES = 7
"""The first capsules of a figure are head, hair, neck, shoulders, torso (two) and pelvis."""

SKIN, TOP, BOTTOM, SHOES, HAIR = range(5)
"""Material classes of the capsules; each figure draws one colour per class."""


@dataclass(frozen=True)
class Figure:
    """One person: capsules in person units and how they map to the image."""

    segments: torch.Tensor
    """(P, 4) float32 capsule axes ``(ax, ay, bx, by)`` in person units."""
    radii: torch.Tensor
    """(P,) float32 capsule radii in person units."""
    classes: torch.Tensor
    """(P,) int64 material class per capsule (``SKIN`` ... ``HAIR``)."""
    colours: torch.Tensor
    """(5, 3) float32 RGB per material class."""
    hairline: float
    """Hair capsule pixels below this height (person units) show the face (skin)."""
    centre: float
    """Image x of the person's x = 0, measured from the near border (left or mirrored)."""
    feet: float
    """Image row of the feet."""
    scale: float
    """Image units per person unit (the person's height in image heights)."""
    right: bool
    """Stands at the right border (x is mirrored)."""


def _limb(
    start: np.ndarray, angles: tuple[float, float], lengths: tuple[float, float]
) -> tuple[list[tuple[float, ...]], np.ndarray]:
    """Two chained segments hanging from ``start`` and their end point (person units);
    angles in radians from straight down, counter-clockwise (toward +x) positive."""
    mid = start + lengths[0] * np.array([math.sin(angles[0]), -math.cos(angles[0])])
    end = mid + lengths[1] * np.array([math.sin(angles[1]), -math.cos(angles[1])])
    return [(*start, *mid), (*mid, *end)], end


def _capsules(rng: np.random.Generator) -> tuple[list, list, list, float]:
    """Random standing pose: (segments, radii, classes, hairline) in person units."""
    w = float(rng.uniform(0.55, 1.0)) * float(rng.uniform(0.85, 1.15))  # yaw and build
    long_sleeves, long_legs = rng.random() < 0.6, rng.random() < 0.8
    segs = [
        (0, 0.905, 0, 0.935),
        (0, 0.9, 0, 0.945),
        (0, 0.82, 0, 0.87),
        (-0.115 * w, 0.8, 0.115 * w, 0.8),
        (-0.055 * w, 0.56, -0.065 * w, 0.77),
        (0.055 * w, 0.56, 0.065 * w, 0.77),
        (-0.06 * w, 0.5, 0.06 * w, 0.5),
    ]
    radii = [0.055, 0.061, 0.03, 0.042, 0.065, 0.065, 0.075]
    classes = [SKIN, HAIR, SKIN, TOP, TOP, TOP, BOTTOM]
    if rng.random() < 0.25:  # long hair
        segs[1], radii[1] = (0, 0.8, 0, 0.945), 0.064
    for side in (-1.0, 1.0):  # +x is the side toward the image centre: that arm hangs
        if side > 0:
            upper, bend = float(rng.uniform(-0.05, 0.25)), float(rng.uniform(-0.3, 0.4))
        elif rng.random() < 0.15:  # raised
            upper, bend = float(rng.uniform(0.5, 2.6)), float(rng.uniform(-0.3, 1.3))
        else:
            upper, bend = float(rng.uniform(-0.1, 0.6)), float(rng.uniform(-0.3, 1.3))
        arm, wrist = _limb(
            np.array([side * 0.115 * w, 0.8]), (side * upper, side * (upper + bend)), (0.17, 0.15)
        )
        hand_angle = side * (upper + bend)
        hand = (
            *wrist,
            wrist[0] + 0.05 * math.sin(hand_angle),
            wrist[1] - 0.05 * math.cos(hand_angle),
        )
        spread = float(rng.uniform(-0.05, 0.2))
        leg, ankle = _limb(
            np.array([side * 0.06 * w, 0.5]),
            (side * spread, side * (spread + rng.uniform(-0.15, 0.1))),
            (0.245, 0.245),
        )
        foot = (*ankle, ankle[0] + side * 0.06 * w, ankle[1] - 0.01)
        segs += [*arm, hand, *leg, foot]
        radii += [0.036, 0.03, 0.026, 0.055, 0.042, 0.026]
        classes += [
            TOP,
            TOP if long_sleeves else SKIN,
            SKIN,
            BOTTOM,
            BOTTOM if long_legs else SKIN,
            SHOES,
        ]
    facing_away = rng.random() < 0.25
    hairline = 2.0 if facing_away else float(rng.uniform(0.9, 0.94))
    return segs, radii, classes, hairline


def _palette(rng: np.random.Generator) -> torch.Tensor:
    """(5, 3) colours: skin tone, top, bottom, shoes, hair."""
    skin = np.array([0.96, 0.8, 0.69]) + rng.random() * (
        np.array([0.3, 0.19, 0.13]) - [0.96, 0.8, 0.69]
    )
    top = hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.08, 0.9))
    if rng.random() < 0.3:  # jeans
        bottom = hsv(rng.uniform(0.58, 0.63), rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.6))
    else:
        bottom = hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.05, 0.7))
    shoes = hsv(rng.random(), rng.uniform(0, 0.3), rng.choice([0.1, 0.85]))
    hair = hsv(rng.uniform(0.05, 0.11), rng.uniform(0.2, 0.7), rng.uniform(0.05, 0.7))
    rows = [
        torch.tensor(skin, dtype=torch.float32),
        top[:, 0, 0],
        bottom[:, 0, 0],
        shoes[:, 0, 0],
        hair[:, 0, 0],
    ]
    return torch.stack(rows)


def draw_figure(rng: np.random.Generator, horizon: float, right: bool) -> Figure:
    """A random person standing on a floor with the given horizon, at one border."""
    segs, radii, classes, hairline = _capsules(rng)
    colours = _palette(rng)
    segments = torch.tensor(segs, dtype=torch.float32)
    radius = torch.tensor(radii, dtype=torch.float32)
    feet = float(rng.uniform(horizon + 0.3, 1.6))
    scale = (feet - horizon) * float(rng.uniform(1.1, 1.45))
    inward_edges = torch.maximum(segments[:, 0], segments[:, 2]) + radius
    body = float(inward_edges[:BODY_CAPSULES].max())
    inner = float(inward_edges.max())
    body_outer = float(
        (torch.minimum(segments[:, 0], segments[:, 2]) - radius)[:BODY_CAPSULES].min()
    )
    # the body's inner side 3% to 17% in from the border; nothing beyond EDGE_BAND; the
    # body's outer side beyond the border (so the border cuts the figure)
    centre = float(rng.uniform(0.03, 0.17)) - body * scale
    centre = min(centre, EDGE_BAND - inner * scale, -0.02 - body_outer * scale)
    return Figure(
        segments, radius, torch.tensor(classes), colours, hairline, centre, feet, scale, right
    )


def _nearest_capsule(
    figure: Figure, px: torch.Tensor, py: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For (h, w) person-unit points: the signed distance to the union of capsules (person
    units), the index of the nearest capsule, and (2, h, w) the offset from that capsule's
    axis over its radius (its surface normal's x and y at the rim; y up)."""
    ax, ay, bx, by = (figure.segments[:, k, None, None] for k in range(4))
    dx, dy = bx - ax, by - ay
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).clamp(min=1e-12)
    t = t.clamp(0.0, 1.0)
    ox, oy = px - (ax + t * dx), py - (ay + t * dy)
    sdf = torch.sqrt(ox * ox + oy * oy) - figure.radii[:, None, None]
    best, index = sdf.min(dim=0)
    radius = figure.radii[index]
    nx = ox.gather(0, index[None])[0] / radius
    ny = oy.gather(0, index[None])[0] / radius
    return best, index, torch.stack([nx, ny])


def _figure_window(figure: Figure, n: int) -> tuple[slice, slice]:
    """Pixels that can be touched: the outer band on the figure's side (in mirrored x)."""
    rows, cols = window(
        n,
        0.0,
        EDGE_BAND + 2.0 / n,
        figure.feet - 1.2 * figure.scale,
        figure.feet + 0.1 * figure.scale,
    )
    if figure.right:
        cols = slice(n - cols.stop, n - cols.start)
    return rows, cols


def _local(figure: Figure, n: int) -> tuple[tuple[slice, slice], torch.Tensor, torch.Tensor]:
    rows, cols = _figure_window(figure, n)
    x, y = pixel_grid(n)
    xs, ys = x[rows, cols], y[rows, cols]
    if figure.right:
        xs = 1.0 - xs
    return (rows, cols), (xs - figure.centre) / figure.scale, (figure.feet - ys) / figure.scale


def figure_alpha(figure: Figure, n: int) -> torch.Tensor:
    """(n, n) coverage in [0, 1] of the figure in an n x n image (0 outside its edge band)."""
    alpha = torch.zeros(n, n)
    (rows, cols), px, py = _local(figure, n)
    sdf, _, _ = _nearest_capsule(figure, px, py)
    alpha[rows, cols] = soft_alpha(sdf * figure.scale, 1.5 / n)
    return alpha


def paint_figure(img: torch.Tensor, figure: Figure, light: float) -> None:
    """Composite the shaded figure into the (3, n, n) image in place."""
    n = img.shape[-1]
    (rows, cols), px, py = _local(figure, n)
    sdf, index, normal = _nearest_capsule(figure, px, py)
    cls = figure.classes[index]
    cls = torch.where((cls == HAIR) & (py < figure.hairline), SKIN, cls)
    mirror = -1.0 if figure.right else 1.0
    shade = lambert(mirror * normal[0], -normal[1], light)
    colour = figure.colours[cls].permute(2, 0, 1) * shade
    paint(img[:, rows, cols], colour, soft_alpha(sdf * figure.scale, 1.5 / n))


def people(img: torch.Tensor, horizon: float, light: float, rng: np.random.Generator) -> None:
    """Paint one or two people at the left/right borders of the (3, n, n) image in place."""
    count = 2 if rng.random() < 0.35 else 1
    sides = [bool(rng.random() < 0.5) for _ in range(count)]
    figures = [draw_figure(rng, horizon, right) for right in sides]
    for figure in sorted(figures, key=lambda f: f.feet):
        paint_figure(img, figure, light)
