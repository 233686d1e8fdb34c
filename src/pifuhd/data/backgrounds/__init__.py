"""Procedural training backgrounds: simple patterns and photo-like scenes, drawn as a mixture.

``procedural_background(size, rng)`` picks a kind with ``KIND_PROBABILITIES`` and renders it.
The simple kinds (flat patterns) are cheap and unlike any photo; the photo-like kinds are a
room or an outdoor view in perspective (:mod:`.scenes`), the same with clutter
(:mod:`.clutter`), or with other people cut by the left/right border
(:mod:`.silhouettes`). Photo-like kinds are built at half resolution, then
finished like a photo: lighting and vignetting, colour cast, exposure, defocus blur, and
sensor grain at full resolution. Every draw comes from ``rng``: a seed gives the same image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pifuhd.data.backgrounds.clutter import clutter
from pifuhd.data.backgrounds.draw import gaussian_blur, pixel_grid, resize
from pifuhd.data.backgrounds.outdoor import outdoor
from pifuhd.data.backgrounds.scenes import Layout, room
from pifuhd.data.backgrounds.silhouettes import people

KIND_PROBABILITIES: dict[str, float] = {
    "gradient": 0.06,
    "noise": 0.06,
    "stripes": 0.06,
    "checks": 0.07,
    "room": 0.2,
    "outdoor": 0.12,
    "clutter": 0.23,
    "people": 0.2,
}
"""Probability of each background kind; the first four are the simple patterns."""

SIMPLE_KINDS = ("gradient", "noise", "stripes", "checks")


def draw_kind(rng: np.random.Generator) -> str:
    """One kind name drawn with ``KIND_PROBABILITIES`` (one uniform draw)."""
    names = list(KIND_PROBABILITIES)
    return names[int(rng.choice(len(names), p=list(KIND_PROBABILITIES.values())))]


def procedural_background(size: int, rng: np.random.Generator) -> torch.Tensor:
    """A random (3, size, size) float32 background in [0, 1] (kind drawn from the mixture)."""
    return render_background(draw_kind(rng), size, rng)


def render_background(kind: str, size: int, rng: np.random.Generator) -> torch.Tensor:
    """A (3, size, size) float32 background in [0, 1] of the given kind."""
    if kind in SIMPLE_KINDS:
        return simple_background(kind, size, rng)
    if kind not in KIND_PROBABILITIES:
        raise ValueError(f"unknown background kind {kind!r}; one of {list(KIND_PROBABILITIES)}")
    n = work_size(size)
    if kind == "outdoor":
        img, layout = outdoor(n, rng)
    elif kind == "room":
        img, layout = room(n, rng)
    else:
        img, layout = (outdoor if rng.random() < 0.25 else room)(n, rng)
        if kind == "clutter" or rng.random() < 0.5:
            clutter(img, layout, rng)
        if kind == "people":
            people(img, layout.horizon, layout.light, rng)
    return photo_finish(img, size, layout, rng)


def work_size(size: int) -> int:
    """Side at which photo-like scenes are built before upsampling: half, at least 32."""
    return min(size, max(32, size // 2))


def photo_finish(
    img: torch.Tensor, size: int, layout: Layout, rng: np.random.Generator
) -> torch.Tensor:
    """(3, n, n) scene -> (3, size, size) in [0, 1], finished like a photo.

    Light falloff across the frame and vignetting, a white-balance cast, exposure and gamma,
    a defocus blur (none a third of the time; up to 2 pixels at ``n``), bilinear upsampling
    to ``size`` and luminance grain with a standard deviation up to 0.02.
    """
    n = img.shape[-1]
    x, y = pixel_grid(n)
    radius2 = (x - 0.5) ** 2 + (y - 0.5) ** 2
    gain = 1.0 + rng.uniform(0.0, 0.2) * layout.light * (x - 0.5) - rng.uniform(0, 0.8) * radius2
    cast = torch.from_numpy((1.0 + 0.04 * rng.standard_normal(3)).astype(np.float32))
    exposure, gamma = float(rng.uniform(0.75, 1.2)), float(rng.uniform(0.8, 1.25))
    img = ((img * gain * cast[:, None, None] * exposure).clamp(0.0, 1.0)) ** gamma
    sigma = 0.0 if rng.random() < 1 / 3 else float(rng.uniform(0.3, 2.0))
    img = resize(gaussian_blur(img, sigma), size)
    grain = rng.standard_normal((size, size), dtype=np.float32) * np.float32(
        rng.uniform(0.002, 0.02)
    )
    return (img + torch.from_numpy(grain)[None]).clamp(0.0, 1.0)


def simple_background(kind: str, size: int, rng: np.random.Generator) -> torch.Tensor:
    """(3, size, size) in [0, 1]: a two-colour gradient, smooth noise, stripes or checks."""
    c0, c1 = rng.random(3), rng.random(3)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    if kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        t = (x * math.cos(angle) + y * math.sin(angle)).clamp(0, 1)
    elif kind == "noise":
        cells = int(rng.integers(2, 12))
        coarse = torch.from_numpy(rng.random((1, 3, cells, cells)).astype(np.float32))
        img = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
        return img.clamp(0, 1)
    elif kind == "stripes":
        freq = rng.uniform(3, 30)
        angle = rng.uniform(0, math.pi)
        t = (
            torch.sin(2 * math.pi * freq * (x * math.cos(angle) + y * math.sin(angle))) > 0
        ).float()
    else:
        n = int(rng.integers(2, 16))
        t = ((torch.floor(x * n) + torch.floor(y * n)) % 2).float()
    c0t = torch.tensor(c0, dtype=torch.float32)[:, None, None]
    c1t = torch.tensor(c1, dtype=torch.float32)[:, None, None]
    return c0t * (1 - t) + c1t * t
