"""Clutter for photo-like backgrounds: furniture-like boxes, round blobs, poles and wall frames.

Objects stand on the floor of a :class:`.scenes.Layout`: one standing at image row
``b`` is ``b - horizon`` image units tall per camera height, so near objects are bigger and
drawn later (painter's order), partly occluding far ones. Each gets soft edges, simple shading
from the scene's light and a soft contact shadow. Image units as in :mod:`.draw`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pifuhd.data.backgrounds.draw import (
    box_sdf,
    ellipse_sdf,
    fractal_noise,
    hsv,
    lambert,
    paint,
    pixel_grid,
    soft_alpha,
    window,
)
from pifuhd.data.backgrounds.scenes import Layout, baseline


@dataclass(frozen=True)
class Spot:
    """Where one object is painted: the (3, n, n) scene (painted in place), its pixel grid
    ``x``, ``y`` and shared texture (n, n), the layout, the object's centre column and base row
    (image units; a wall frame's height up the wall in [0, 1]) and its size scale
    (``base - horizon``)."""

    img: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    texture: torch.Tensor
    layout: Layout
    centre: float
    base: float
    scale: float

    def parts(self) -> tuple:
        """The fields in order, for unpacking."""
        return (
            self.img, self.x, self.y, self.texture, self.layout, self.centre, self.base,
            self.scale,
        )  # fmt: skip


KINDS = ("box", "box", "blob", "blob", "pole", "frame", "frame")
"""Object kinds, drawn uniformly from this list; frames (last) only indoors."""


def _object_colour(rng: np.random.Generator) -> torch.Tensor:
    """Mostly muted colours (wood, fabric, paint), sometimes a saturated one."""
    saturation = rng.uniform(0.0, 0.4) if rng.random() < 0.75 else rng.uniform(0.4, 0.9)
    return hsv(rng.random(), saturation, rng.uniform(0.1, 0.9))


def clutter(img: torch.Tensor, layout: Layout, rng: np.random.Generator) -> None:
    """Paint 3 to 7 random objects into the (3, n, n) scene ``img`` in place."""
    n = img.shape[-1]
    x, y = pixel_grid(n)
    texture = fractal_noise(rng, n, 48, 2)[0] * 0.5
    items = []
    for _ in range(int(rng.integers(3, 8))):
        kind = KINDS[int(rng.integers(len(KINDS) - 2 * layout.outdoor))]
        centre = float(rng.uniform(-0.1, 1.1))
        if kind == "frame":
            items.append((0.0, kind, centre, float(rng.random())))
        else:  # stands on the floor in front of the wall (its base may be below the frame)
            wall_foot = float(baseline(layout, torch.tensor([centre])).item())
            base = float(rng.uniform(wall_foot + 0.02, max(wall_foot + 0.1, 1.1)))
            items.append((base, kind, centre, base))
    for _, kind, centre, base in sorted(items, key=lambda item: item[0]):
        scale = base - layout.horizon
        painter = {"box": _box, "blob": _blob, "pole": _pole, "frame": _frame}[kind]
        painter(Spot(img, x, y, texture, layout, centre, base, scale), rng)


def _shadow(
    img: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    centre: float,
    base: float,
    half_width: float,
    scale: float,
) -> None:
    """Soft dark ellipse on the floor under an object's base."""
    ry = 0.03 * scale + 2.0 / img.shape[-1]
    rows, cols = window(
        img.shape[-1], centre - half_width, centre + half_width, base - ry, base + ry
    )
    r = torch.sqrt(
        ((x[rows, cols] - centre) / half_width) ** 2 + ((y[rows, cols] - base) / ry) ** 2
    )
    img[:, rows, cols] *= 1.0 - 0.45 * (1.0 - r).clamp(0, 1) ** 2


def _box(spot: Spot, rng: np.random.Generator) -> None:
    """A cabinet/sofa/table-like box: front face, a lit top, a dark side toward the centre."""
    img, x, y, texture, layout, centre, base, scale = spot.parts()
    n, px = img.shape[-1], 1.0 / img.shape[-1]
    half_w = float(rng.uniform(0.15, 0.6)) * scale
    height = float(rng.uniform(0.3, 1.3)) * scale
    top = base - height
    side = float(rng.uniform(0.05, 0.3)) * scale * min(1.0, abs(0.5 - centre) * 2)
    side_sign = -1.0 if centre > 0.5 else 1.0  # the side facing the image centre shows
    lid = max(0.0, top - layout.horizon) * float(rng.uniform(0.1, 0.3))
    colour = _object_colour(rng)
    _shadow(img, x, y, centre, base, half_w * 1.2 + side, scale)
    x0, x1 = (
        min(centre - half_w, centre + side_sign * (half_w + side)),
        max(centre + half_w, centre + side_sign * (half_w + side)),
    )
    rows, cols = window(n, x0 - 2 * px, x1 + 2 * px, top - lid - 2 * px, base + 2 * px)
    xs, ys, tex = x[rows, cols], y[rows, cols], texture[rows, cols]
    soft = px * float(rng.uniform(1.0, 2.5))
    if side > px:
        side_centre = (centre + side_sign * (half_w + side / 2), top - lid / 2 + height / 2)
        sdf = box_sdf(xs, ys, side_centre, (side / 2, (height + lid) / 2))
        paint(img[:, rows, cols], colour * 0.6 * (1 + 0.05 * tex), soft_alpha(sdf, soft))
    if lid > px:
        sdf = box_sdf(xs, ys, (centre, top - lid / 2), (half_w, lid / 2))
        paint(img[:, rows, cols], colour * 1.2 * (1 + 0.05 * tex), soft_alpha(sdf, soft))
    sdf = box_sdf(xs, ys, (centre, top + height / 2), (half_w, height / 2), 0.02 * half_w)
    shade = 1.0 + 0.2 * layout.light * (xs - centre) / half_w - 0.15 * (ys - top) / height
    lines = torch.zeros_like(xs)
    for level in rng.uniform(0.2, 0.9, size=int(rng.integers(0, 4))):  # drawers, shelves
        lines += soft_alpha((ys - (top + level * height)).abs() - 0.5 * px, px)
    face = colour * shade * (1 + 0.06 * tex) * (1 - 0.4 * lines.clamp(0, 1))
    paint(img[:, rows, cols], face, soft_alpha(sdf, soft))


def _blob(spot: Spot, rng: np.random.Generator) -> None:
    """A potted plant (a pot under many small leafy ellipses) or a vase, lamp or ball (one or
    two larger ones), shaded as spheres."""
    img, x, y, texture, layout, centre, base, scale = spot.parts()
    n, px = img.shape[-1], 1.0 / img.shape[-1]
    size = float(rng.uniform(0.05, 0.3)) * scale
    _shadow(img, x, y, centre, base, size, scale)
    plant = rng.random() < 0.5
    if plant:
        rows, cols = window(n, centre - size, centre + size, base - size, base + 2 * px)
        xs, ys = x[rows, cols], y[rows, cols]
        pot = box_sdf(xs, ys, (centre, base - 0.4 * size), (0.35 * size, 0.4 * size), 0.05 * size)
        shade = lambert(
            ((xs - centre) / (0.35 * size)).clamp(-1, 1), torch.zeros_like(xs), layout.light
        )
        paint(img[:, rows, cols], _object_colour(rng) * shade, soft_alpha(pot, 1.5 * px))
        colour = hsv(rng.uniform(0.2, 0.4), rng.uniform(0.3, 0.8), rng.uniform(0.15, 0.5))
        base, size = base - 0.8 * size, size * 1.5
    else:
        colour = _object_colour(rng)
    for _ in range(int(rng.integers(10, 25) if plant else rng.integers(1, 3))):
        radius = rng.uniform(0.06, 0.16) if plant else rng.uniform(0.4, 1.0)
        rx, ry = size * radius * rng.uniform(0.6, 1.0), size * radius * rng.uniform(0.6, 1.0)
        cx = centre + size * rng.uniform(-0.5, 0.5)
        cy = base - ry - size * rng.uniform(0.0, 1.2 if plant else 0.05)
        rows, cols = window(
            n, cx - rx - 2 * px, cx + rx + 2 * px, cy - ry - 2 * px, cy + ry + 2 * px
        )
        xs, ys = x[rows, cols], y[rows, cols]
        shade = lambert((xs - cx) / rx, (ys - cy) / ry, layout.light)
        tint = colour * rng.uniform(0.8, 1.2) * shade * (1 + 0.08 * texture[rows, cols])
        paint(
            img[:, rows, cols], tint, soft_alpha(ellipse_sdf(xs, ys, (cx, cy), (rx, ry)), 1.5 * px)
        )


def _pole(spot: Spot, rng: np.random.Generator) -> None:
    """A lamp post, pillar or tree trunk: a tall vertical cylinder, shaded across."""
    img, x, y, texture, layout, centre, base, scale = spot.parts()
    n, px = img.shape[-1], 1.0 / img.shape[-1]
    radius = max(1.5 * px, float(rng.uniform(0.01, 0.08)) * scale)
    top = base - float(rng.uniform(1.0, 4.0)) * scale
    colour = _object_colour(rng)
    _shadow(img, x, y, centre, base, radius * 2, scale)
    rows, cols = window(n, centre - radius - 2 * px, centre + radius + 2 * px, top, base)
    xs, ys = x[rows, cols], y[rows, cols]
    shade = lambert(((xs - centre) / radius).clamp(-1, 1), torch.zeros_like(xs), layout.light)
    sdf = box_sdf(xs, ys, (centre, (top + base) / 2), (radius, (base - top) / 2))
    paint(
        img[:, rows, cols],
        colour * shade * (1 + 0.05 * texture[rows, cols]),
        soft_alpha(sdf, 1.5 * px),
    )


def _frame(spot: Spot, rng: np.random.Generator) -> None:
    """A picture, window or door on the back wall (``spot.base``: where up the wall, in [0, 1])."""
    img, x, y, texture, layout, centre, height, _ = spot.parts()
    n, px = img.shape[-1], 1.0 / img.shape[-1]
    floor_row = float(baseline(layout, torch.tensor([centre])).item())
    wall_h = floor_row - layout.horizon
    door = rng.random() < 0.3
    half_w = wall_h * (rng.uniform(0.3, 0.5) if door else rng.uniform(0.15, 0.8))
    half_h = wall_h * (rng.uniform(0.85, 1.0) if door else rng.uniform(0.15, 0.6))
    cy = floor_row - half_h if door else layout.horizon + (height - 0.6) * wall_h
    rows, cols = window(
        n,
        centre - half_w - 2 * px,
        centre + half_w + 2 * px,
        cy - half_h - 2 * px,
        cy + half_h + 2 * px,
    )
    xs, ys, tex = x[rows, cols], y[rows, cols], texture[rows, cols]
    outer = box_sdf(xs, ys, (centre, cy), (half_w, half_h))
    border = float(rng.uniform(0.03, 0.12)) * min(half_w, half_h)
    inner = box_sdf(xs, ys, (centre, cy), (half_w - border, half_h - border))
    frame_colour = _object_colour(rng)
    paint(img[:, rows, cols], frame_colour * (1 + 0.05 * tex), soft_alpha(outer, 1.5 * px))
    if door:
        return
    if rng.random() < 0.5:  # window: bright sky with glazing bars
        glass = hsv(0.58, rng.uniform(0.0, 0.3), rng.uniform(0.8, 1.0)) * (1 + 0.05 * tex)
        bars = soft_alpha(torch.minimum((xs - centre).abs(), (ys - cy).abs()) - border / 3, px)
        glass = glass * (1 - bars) + frame_colour * bars
    else:  # picture: two colour fields (a landscape, an abstract) meeting at a soft line
        split = cy + half_h * float(rng.uniform(-0.6, 0.6))
        t = (ys - split) / (0.2 * half_h) + float(rng.uniform(-1, 1)) * (xs - centre) / half_w
        t = t.clamp(-1, 1) * 0.5 + 0.5
        glass = _object_colour(rng) * (1 - t) + _object_colour(rng) * t
        glass = glass * (1 + 0.1 * tex)
    paint(img[:, rows, cols], glass, soft_alpha(inner, 1.5 * px))
