"""Outdoor views for training backgrounds: a sky with clouds, a skyline, ground in perspective.

The ground is :func:`.scenes.floor` in an outdoor :class:`.scenes.Layout`
(grass, paving, asphalt or sand, hazy toward the horizon); on the horizon stand trees, buildings
or hills, or nothing. Image units as in :mod:`.draw`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pifuhd.data.backgrounds.draw import frac, fractal_noise, hsv, paint, pixel_grid, soft_alpha
from pifuhd.data.backgrounds.scenes import Layout, draw_layout, floor


def outdoor(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, Layout]:
    """(3, n, n) outdoor view in [0, 1] (before the photo finish): sky, skyline, ground."""
    layout = draw_layout(rng, outdoor=True)
    x, y = pixel_grid(n)
    h = layout.horizon
    overcast = rng.random() < 0.35
    top = (
        hsv(0.6, 0.05, 0.8)
        if overcast
        else hsv(rng.uniform(0.55, 0.64), rng.uniform(0.35, 0.7), rng.uniform(0.6, 0.95))
    )
    near = hsv(0.58, 0.08, rng.uniform(0.85, 1.0))
    t = (y / h).clamp(0, 1) ** 0.7
    img = top * (1 - t) + near * t
    clouds = (fractal_noise(rng, n, 3, 3, 2.0) * 0.5 + rng.uniform(-0.6, 0.3)).clamp(0, 1)
    paint(img, hsv(0, 0, 0.97), clouds * (1 - t) * 0.9)
    _skyline(img, layout, x, y, rng)
    paint(img, floor(n, layout, rng), soft_alpha(h - y, 1.0 / n))
    return img.clamp(0.0, 1.0), layout


def _skyline(
    img: torch.Tensor, layout: Layout, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
) -> None:
    """Trees, buildings or hills standing on the horizon, painted into ``img`` in place."""
    n, h = img.shape[-1], layout.horizon
    kind = int(rng.integers(4))
    if kind == 0:  # open view
        return
    if kind == 1:  # buildings: piecewise-constant roof line, rows of windows
        edges = np.cumsum(rng.uniform(0.05, 0.3, size=12)) - rng.uniform(0, 0.3)
        heights = torch.from_numpy(rng.uniform(0.05, 0.5, size=13).astype(np.float32)) * h
        shades = torch.from_numpy(rng.uniform(0.35, 0.85, size=13).astype(np.float32))
        index = torch.bucketize(x[0], torch.from_numpy(edges.astype(np.float32)))
        roof = h - heights[index]
        colour = hsv(rng.uniform(0, 0.15), rng.uniform(0, 0.25), 1.0) * shades[index]
        wx = frac(x * rng.uniform(40, 90))
        wy = frac((y - roof) * rng.uniform(40, 90))
        window = ((wx > 0.45) & (wy > 0.4) & (y > roof + 0.01)).float()
        colour = colour * (1 - 0.35 * window)
        paint(img, colour, soft_alpha(roof - y, 1.0 / n))
        return
    cells = int(rng.integers(3, 8)) if kind == 2 else 3
    profile = _profile(rng, n, cells, 4 if kind == 2 else 1)
    height = (0.15 + 0.85 * profile) * h * rng.uniform(0.1, 0.5)
    if kind == 2:  # trees: ragged canopy, leafy texture
        colour = hsv(rng.uniform(0.2, 0.35), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.4))
        colour = colour * (1 + 0.3 * fractal_noise(rng, n, 24, 2))
    else:  # distant hills, hazy
        colour = hsv(rng.uniform(0.25, 0.6), rng.uniform(0.1, 0.35), rng.uniform(0.45, 0.7))
    paint(img, colour, soft_alpha(h - height - y, 1.5 / n))


def _profile(rng: np.random.Generator, n: int, cells: int, octaves: int) -> torch.Tensor:
    """(n,) skyline height in about [0, 1]: octaves of linearly interpolated random values
    (cells quadrupling, amplitude halving), ragged for tree tops."""
    total, weight = torch.zeros(n), 0.0
    for k in range(octaves):
        count = cells * 4**k + 1
        knots = torch.from_numpy(rng.random((1, 1, count), dtype=np.float32))
        total += 0.5**k * F.interpolate(knots, size=n, mode="linear", align_corners=True)[0, 0]
        weight += 0.5**k
    return total / weight
