"""Photo-like rooms for training backgrounds: walls, a ceiling, floors (and ground) in perspective.

A pinhole camera one unit above a flat floor looks level, so floor lines converge on the
horizon row ``h``: the floor point seen at image ``(x, y)`` (``y > h``) lies at depth
``Z = focal / (y - h)`` and lateral offset ``X = (x - 0.5) / (y - h)`` (camera heights). A
pixel there spans about ``focal / ((y - h)^2 n)`` units of depth, so floor texture gets finer
toward the horizon and is faded to its mean colour where a pixel would cover a large part of
a tile. Image units and conventions as in :mod:`.draw`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pifuhd.data.backgrounds.draw import (
    frac,
    fractal_noise,
    hsv,
    paint,
    pixel_grid,
    soft_alpha,
    value_noise,
)

JITTER_TABLE = 17
"""Side of the table of per-tile (per-brick, per-board) random values, indexed modulo."""


WALL_STYLES = ("plain", "plaster", "brick", "tiles", "panels", "stripes")
FLOOR_STYLES = ("tiles", "planks", "carpet", "concrete")
GROUND_STYLES = ("grass", "paving", "asphalt", "sand")


@dataclass(frozen=True)
class Layout:
    """Where a scene's planes meet in the image (image units, y down)."""

    horizon: float
    """Row of the eye-level horizon, where floor lines converge."""
    boundary: float
    """Row where the back wall meets the floor (at a corner, if any); the horizon outdoors."""
    corner: float | None
    """Column of a room corner (two walls receding from it), or None for one flat wall."""
    spread: tuple[float, float]
    """Distances from the corner to the vanishing points of its left and right walls."""
    ceiling: float
    """(ceiling height - camera height) / camera height; sets where the ceiling line is."""
    light: float
    """Horizontal light direction in [-1, 1]: -1 lit from the left, 1 from the right."""
    outdoor: bool


def draw_layout(rng: np.random.Generator, outdoor: bool) -> Layout:
    """A random camera/room arrangement (a few uniform draws)."""
    horizon = float(rng.uniform(0.2, 0.55))
    gap = float(rng.uniform(0.08, 0.35))
    corner = float(rng.uniform(0.1, 0.9)) if rng.random() < 0.35 else None
    spread = (float(rng.uniform(0.6, 3.0)), float(rng.uniform(0.6, 3.0)))
    ceiling, light = float(rng.uniform(0.9, 2.2)), float(rng.uniform(-1.0, 1.0))
    if outdoor:
        return Layout(horizon, horizon, None, spread, ceiling, light, True)
    return Layout(horizon, horizon + gap, corner, spread, ceiling, light, False)


def baseline(layout: Layout, x: torch.Tensor) -> torch.Tensor:
    """Row where wall meets floor at each column ``x`` (same shape as ``x``)."""
    h, b = layout.horizon, layout.boundary
    if layout.corner is None:
        return torch.full_like(x, b)
    c, (left, right) = layout.corner, layout.spread
    # each wall's baseline runs from the corner toward its vanishing point on the horizon
    on_left = h + (b - h) * (c + left - x) / left
    on_right = h + (b - h) * (x - c + right) / right
    return torch.where(x < c, on_left, on_right)


def _jitter(rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.standard_normal((JITTER_TABLE, JITTER_TABLE), dtype=np.float32))


def _cell_value(table: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """Per-cell random value for integer-valued float maps ``row``, ``col``."""
    k = table.shape[0]
    return table[torch.remainder(row, k).long(), torch.remainder(col, k).long()]


def _edge(f: torch.Tensor) -> torch.Tensor:
    """Distance of a fractional part ``f`` in [0, 1) to the nearest integer."""
    return torch.minimum(f, 1.0 - f)


def _line_coverage(
    dist: torch.Tensor, width: float, footprint: torch.Tensor | float
) -> torch.Tensor:
    """Antialiased coverage of lines ``width`` wide at ``dist`` (units per pixel: footprint)."""
    return ((width - dist) / footprint + 0.5).clamp(0.0, 1.0)


def wall(
    n: int, layout: Layout, rng: np.random.Generator, style: str | None = None
) -> torch.Tensor:
    """(3, n, n) wall texture over the whole frame in one of ``WALL_STYLES`` (drawn if None;
    only the untextured first two at a corner, where a fronto-parallel pattern would be wrong)."""
    x, y = pixel_grid(n)
    if style is None:
        styles = WALL_STYLES[:2] if layout.corner is not None else WALL_STYLES
        style = styles[int(rng.integers(len(styles)))]
    base = _wall_colour(rng)
    if style in ("brick", "tiles"):
        img = _masonry(x, y, style, base, rng)
    elif style in ("panels", "stripes"):
        img = _boards(x, style, base, rng)
    else:
        img = base.expand(3, n, n)
    amount = 0.015 if style == "plaster" else 0.008
    texture = fractal_noise(rng, n, int(rng.integers(20, 60)), 2, 0.2 if style == "panels" else 1)
    img = img * (1 + amount * texture)
    return _wall_light(img, layout, x, y, rng)


def _masonry(
    x: torch.Tensor, y: torch.Tensor, style: str, base: torch.Tensor, rng: np.random.Generator
) -> torch.Tensor:
    """(3, n, n) bricks (offset rows, often brick-red) or square tiles, each with its own
    shade, separated by antialiased mortar or grout lines."""
    px = 1.0 / x.shape[-1]
    rows = float(rng.integers(12, 40) if style == "brick" else rng.integers(6, 20))
    aspect = float(rng.uniform(2.0, 3.0)) if style == "brick" else 1.0
    ry = y * rows
    row = torch.floor(ry)
    rx = x * rows / aspect + (0.5 * torch.remainder(row, 2) if style == "brick" else 0.0)
    cell = _cell_value(_jitter(rng), row, torch.floor(rx))
    if style == "brick" and rng.random() < 0.6:
        base = hsv(rng.uniform(-0.02, 0.08), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.65))
    img = base * (1.0 + rng.uniform(0.04, 0.15) * cell)
    dist = torch.minimum(_edge(frac(rx)) * aspect, _edge(frac(ry)))  # in row heights
    lines = _line_coverage(dist, rng.uniform(0.04, 0.1), px * rows)
    mortar = hsv(0.1, rng.uniform(0, 0.15), rng.uniform(0.5, 0.9))
    return img * (1 - lines) + mortar * lines


def _boards(
    x: torch.Tensor, style: str, base: torch.Tensor, rng: np.random.Generator
) -> torch.Tensor:
    """(3, n, n) vertical wallpaper stripes (two close colours) or panels (own shade each,
    dark seams)."""
    n = x.shape[-1]
    period = float(rng.uniform(0.03, 0.15))
    other = base * (1.0 + rng.uniform(-0.15, 0.15))
    if style == "stripes":
        t = (torch.sin(2 * math.pi * x / period) * period * n / 2).clamp(-0.5, 0.5) + 0.5
        return base * (1 - t) + other * t
    col = torch.floor(x / period)
    img = base * (1 + 0.08 * _cell_value(_jitter(rng), col, col))
    seam = _line_coverage(_edge(frac(x / period)), 0.03, 1.0 / (n * period))
    return img * (1 - 0.4 * seam)


def _wall_colour(rng: np.random.Generator) -> torch.Tensor:
    """Half the time a warm neutral (white, cream, beige), else a muted colour."""
    if rng.random() < 0.5:
        return hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.2), rng.uniform(0.6, 0.95))
    return hsv(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.35, 0.9))


def _wall_light(
    img: torch.Tensor, layout: Layout, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
) -> torch.Tensor:
    """Side light across the wall and a soft pool of lamp light; at a corner the wall facing
    away from the light is darker."""
    lamp = (float(rng.uniform(0, 1)), float(rng.uniform(0, layout.boundary)))
    spread = float(rng.uniform(0.1, 0.4)) ** 2
    pool = torch.exp(-((x - lamp[0]) ** 2 + (y - lamp[1]) ** 2) / spread)
    shade = 1.0 + 0.15 * layout.light * (x - 0.5) - 0.1 * (y - 0.5) + rng.uniform(0, 0.3) * pool
    if layout.corner is not None:
        away = x > layout.corner if layout.light < 0 else x < layout.corner
        shade = torch.where(away, shade * 0.8, shade)
    return img * shade


def floor(
    n: int, layout: Layout, rng: np.random.Generator, style: str | None = None
) -> torch.Tensor:
    """(3, n, n) floor (``FLOOR_STYLES``) or ground (``GROUND_STYLES``) in perspective,
    meaningful below the horizon only; the style is drawn if None."""
    x, y = pixel_grid(n)
    depth_gap = (y - layout.horizon).clamp(min=0.5 / n)
    focal = float(rng.uniform(0.8, 1.6))
    tile = float(rng.uniform(0.3, 1.0))
    angle = float(rng.uniform(-0.6, 0.6)) if rng.random() < 0.5 else 0.0
    lateral, depth = floor_coordinates(x, y.clamp(min=layout.horizon + 0.5 / n), layout, focal)
    u = (lateral * math.cos(angle) - depth * math.sin(angle)) / tile + rng.uniform(0, 1)
    v = (lateral * math.sin(angle) + depth * math.cos(angle)) / tile + rng.uniform(0, 1)
    footprint = focal / (depth_gap**2 * n * tile)  # tile units per pixel, mostly along depth
    if style is None:
        styles = GROUND_STYLES if layout.outdoor else FLOOR_STYLES
        style = styles[int(rng.integers(len(styles)))]
    base = _floor_colour(style, rng)
    img, period = _floor_pattern(style, base, u, v, footprint, rng)
    mean = base * (1.0 - 0.15 * (style in ("tiles", "paving")))
    img = mean + (img - mean) * _fade(footprint, period)
    img = img * (1 + _grain(rng, u, v, footprint, GRAIN[style]))
    if layout.outdoor:  # aerial haze toward the horizon
        haze = torch.exp(-depth / rng.uniform(15.0, 60.0))
        img = img * haze + hsv(0.58, 0.15, 0.85) * (1 - haze)
    return img * (1.0 + 0.12 * layout.light * (x - 0.5) + 0.15 * (y - 1.0))


def floor_coordinates(
    x: torch.Tensor, y: torch.Tensor, layout: Layout, focal: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Floor point seen at image ``(x, y)`` (``y`` below the horizon): ``(X, Z)`` in camera
    heights, ``X`` to the right of the optical axis and ``Z`` the depth along it.

    The inverse of the projection ``x = 0.5 + focal X / Z``, ``y = horizon + focal / Z``
    (``focal`` in image widths) of a level camera one unit above the floor.
    """
    gap = y - layout.horizon
    return (x - 0.5) / gap, focal / gap


def _fade(footprint: torch.Tensor, period: float) -> torch.Tensor:
    """Weight in [0, 1] of a texture with ``period`` (floor units): 1 at 7 or more pixels per
    period, 0 at 2 or fewer (then its mean colour stands in, instead of aliasing)."""
    return ((0.5 * period - footprint) / (0.35 * period)).clamp(0.0, 1.0)


def _floor_colour(style: str, rng: np.random.Generator) -> torch.Tensor:
    if style == "planks":
        return hsv(rng.uniform(0.04, 0.11), rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.75))
    if style == "grass":
        return hsv(rng.uniform(0.17, 0.3), rng.uniform(0.4, 0.75), rng.uniform(0.25, 0.55))
    if style == "sand":
        return hsv(rng.uniform(0.08, 0.13), rng.uniform(0.2, 0.45), rng.uniform(0.55, 0.85))
    if style in ("concrete", "asphalt", "paving"):
        low = 0.15 if style == "asphalt" else 0.4
        return hsv(rng.random(), rng.uniform(0, 0.08), rng.uniform(low, low + 0.4))
    return hsv(rng.random(), rng.uniform(0.0, 0.45), rng.uniform(0.15, 0.9))


def _floor_pattern(
    style: str,
    base: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    footprint: torch.Tensor,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, float]:
    """Tiles or boards in floor coordinates ``(u, v)`` (tiles) and the pattern's period."""
    if style in ("tiles", "paving"):
        iu, iv = torch.floor(u), torch.floor(v)
        cell = _cell_value(_jitter(rng), iu, iv)
        img = base * (1 + rng.uniform(0.02, 0.1) * cell)
        if rng.random() < 0.3:  # checkerboard
            other = base * rng.uniform(0.3, 0.7) if rng.random() < 0.5 else hsv(0, 0, 0.9)
            odd = torch.remainder(iu + iv, 2)
            img = img * (1 - odd) + other * odd
        dist = torch.minimum(_edge(frac(u)), _edge(frac(v)))
        grout = _line_coverage(dist, rng.uniform(0.01, 0.04), footprint)
        return img * (1 - grout) + base * 0.6 * grout, 1.0
    if style == "planks":
        width, length = float(rng.uniform(0.1, 0.3)), float(rng.uniform(1.0, 3.0))
        table = _jitter(rng)
        pu = u / width
        row = torch.floor(pu)
        pv = v / length + _cell_value(table, row, row)
        board = _cell_value(table, row, torch.floor(pv) + 5)
        img = base * (1 + rng.uniform(0.05, 0.15) * board)
        dist = torch.minimum(_edge(frac(pu)), _edge(frac(pv)) * length / width)
        seam = _line_coverage(dist, 0.03, footprint / width)
        return img * (1 - 0.5 * seam), width
    return base.expand(3, *u.shape), 1.0


GRAIN: dict[str, tuple[tuple[float, float, float], ...]] = {
    "grass": ((0.3, 40.0, 1.0), (0.12, 10.0, 1.0), (0.06, 1.0, 1.0)),
    "carpet": ((0.15, 30.0, 1.0), (0.04, 8.0, 1.0)),
    "sand": ((0.12, 30.0, 1.0), (0.04, 6.0, 1.0), (0.03, 0.7, 1.0)),
    "concrete": ((0.06, 20.0, 1.0), (0.02, 0.8, 1.0)),
    "asphalt": ((0.12, 40.0, 1.0), (0.02, 0.8, 1.0)),
    "tiles": ((0.03, 6.0, 1.0),),
    "paving": ((0.05, 6.0, 1.0), (0.03, 0.5, 1.0)),
    "planks": ((0.1, 12.0, 4.0),),
}
"""Floor grain octaves per style: (amplitude, noise cells per tile, stretch across u)."""


def _grain(
    rng: np.random.Generator,
    u: torch.Tensor,
    v: torch.Tensor,
    footprint: torch.Tensor,
    octaves: tuple[tuple[float, float, float], ...],
) -> torch.Tensor:
    """(1, H, W) zero-mean relative brightness noise at floor coordinates ``(u, v)``.

    One 32-cell noise texture, mirrored-tiled, sampled per octave at a random rotation (none
    for stretched octaves, which follow the boards) and faded where it would alias.
    """
    cells = 32
    tex = value_noise(rng, 128, cells)[None] - 0.5
    total = torch.zeros(1, *u.shape)
    for amplitude, k, stretch in octaves:
        angle = float(rng.uniform(0, math.pi)) if stretch == 1.0 else 0.0
        c, s = math.cos(angle), math.sin(angle)
        tu = (u * c - v * s) * stretch * k / cells
        tv = (u * s + v * c) / stretch * k / cells
        grid = torch.stack([tu, tv], dim=-1)[None] * 2.0 + float(rng.uniform(-1, 1))
        sampled = F.grid_sample(
            tex, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )[0]
        total += amplitude * _fade(footprint, 1.0 / (k * stretch)) * sampled / 0.22
    return total


def room(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, Layout]:
    """(3, n, n) indoor view in [0, 1] (before the photo finish) and its layout."""
    layout = draw_layout(rng, outdoor=False)
    x, y = pixel_grid(n)
    img = wall(n, layout, rng)
    base = baseline(layout, x)
    px = 1.0 / n
    ceiling_row = layout.horizon - (base - layout.horizon) * layout.ceiling
    ceiling = hsv(rng.random(), rng.uniform(0, 0.1), rng.uniform(0.7, 0.95))
    paint(
        img, ceiling * (0.8 + 0.4 * (ceiling_row - y).clamp(0, 1)), soft_alpha(y - ceiling_row, px)
    )
    skirting = float(rng.uniform(0.02, 0.08)) * (base - layout.horizon)
    board = hsv(rng.random(), rng.uniform(0, 0.3), rng.choice([0.2, 0.9]) * rng.uniform(0.7, 1))
    if rng.random() < 0.6:
        paint(img, board, soft_alpha(base - skirting - y, px))
    occlusion = 1.0 - 0.25 * torch.exp(-(y - base).clamp(min=0) / 0.03)
    paint(img, floor(n, layout, rng) * occlusion, soft_alpha(base - y, px))
    return img.clamp(0.0, 1.0), layout
