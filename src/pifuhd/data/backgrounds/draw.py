"""Small raster helpers for procedural backgrounds: grids, colours, noise, blur, soft shapes.

Images are (C, H, W) float32 tensors. Coordinates are image units: x right and y down, both in
[0, 1] across the image, pixel ``i`` centred at ``(i + 0.5) / n``. Signed distances (negative
inside) are in image units too. Every random draw comes from the given NumPy generator, and how
many draws are taken never depends on computed values, so a seed gives the same image (bit for
bit at a given torch thread count; vectorised kernels may differ in the last bit across counts)
and leaves the generator in the same state.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import torch
import torch.nn.functional as F


def pixel_grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: two (n, n) float32 maps of pixel-centre coordinates in [0, 1]."""
    c = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    y, x = torch.meshgrid(c, c, indexing="ij")
    return x, y


def hsv(h: float, s: float, v: float) -> torch.Tensor:
    """(3, 1, 1) float32 RGB in [0, 1] of hue ``h`` (turns), saturation and value in [0, 1]."""
    rgb = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return torch.tensor(rgb, dtype=torch.float32)[:, None, None]


def value_noise(
    rng: np.random.Generator, n: int, cells: int, channels: int = 1, stretch: float = 1.0
) -> torch.Tensor:
    """(channels, n, n) band-limited noise in about [0, 1]: a random grid, bicubic-upsampled.

    ``cells`` random values across x (``cells * stretch`` down y, so ``stretch`` < 1 gives
    vertical streaks); features are about ``n / cells`` pixels wide.
    """
    cx, cy = max(2, int(cells)), max(2, round(cells * stretch))
    coarse = torch.from_numpy(rng.random((1, channels, cy, cx), dtype=np.float32))
    return F.interpolate(coarse, size=(n, n), mode="bicubic", align_corners=False)[0]


def fractal_noise(
    rng: np.random.Generator, n: int, cells: int, octaves: int = 3, stretch: float = 1.0
) -> torch.Tensor:
    """(1, n, n) sum of ``octaves`` value noises (cells doubling, amplitude halving), ~N(0, 1)."""
    total = torch.zeros(1, n, n)
    for k in range(octaves):
        total += (value_noise(rng, n, cells * 2**k, 1, stretch) - 0.5) * 0.5**k
    # one octave of uniform cells upsampled has a std of about 0.22
    return total / (0.22 * math.sqrt(sum(0.25**k for k in range(octaves))))


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(C, H, W) image blurred by a Gaussian of ``sigma`` pixels (reflected borders).

    Separable, as weighted sums of shifted copies of the padded image.
    """
    if sigma < 0.3:
        return image
    radius = max(1, math.ceil(2.5 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps = (taps / taps.sum()).tolist()
    h, w = image.shape[-2:]
    radius = min(radius, h - 1, w - 1)
    taps = taps[len(taps) // 2 - radius : len(taps) // 2 + radius + 1]
    pad = F.pad(image[None], (radius, radius, 0, 0), mode="reflect")[0]
    out = sum(t * pad[..., k : k + w] for k, t in enumerate(taps))
    pad = F.pad(out[None], (0, 0, radius, radius), mode="reflect")[0]
    return sum(t * pad[..., k : k + h, :] for k, t in enumerate(taps))


def resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, size, size), bilinear up or area down."""
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    mode = "bilinear" if size > image.shape[-1] else "area"
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(image[None], size=(size, size), mode=mode, **kwargs)[0]


def frac(t: torch.Tensor) -> torch.Tensor:
    """Fractional part in [0, 1), also for negative ``t`` (unlike ``torch.frac``)."""
    return t - torch.floor(t)


def soft_alpha(sdf: torch.Tensor, width: float) -> torch.Tensor:
    """Coverage in [0, 1] of a shape from its signed distance: a linear ramp ``width`` wide.

    Exactly 0 where ``sdf >= width / 2`` and exactly 1 where ``sdf <= -width / 2``.
    """
    return (0.5 - sdf / width).clamp(0.0, 1.0)


def box_sdf(
    x: torch.Tensor,
    y: torch.Tensor,
    centre: tuple[float, float],
    half: tuple[float, float],
    radius: float = 0.0,
) -> torch.Tensor:
    """Signed distance to an axis-aligned box with corners rounded by ``radius``."""
    qx = (x - centre[0]).abs() - (half[0] - radius)
    qy = (y - centre[1]).abs() - (half[1] - radius)
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.minimum(torch.maximum(qx, qy), torch.zeros(())) - radius


def ellipse_sdf(
    x: torch.Tensor, y: torch.Tensor, centre: tuple[float, float], radii: tuple[float, float]
) -> torch.Tensor:
    """Approximate signed distance to an ellipse (exact for circles, close for mild ones)."""
    r = torch.sqrt(((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2)
    return (r - 1.0) * min(radii)


def window(n: int, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
    """(rows, columns) slices of an n x n image covering the image-unit box, clipped."""
    cols = slice(max(0, math.floor(x0 * n)), min(n, math.ceil(x1 * n)))
    rows = slice(max(0, math.floor(y0 * n)), min(n, math.ceil(y1 * n)))
    return rows, cols


def paint(canvas: torch.Tensor, colour: torch.Tensor, alpha: torch.Tensor) -> None:
    """Composite ``colour`` (3, h, w) or (3, 1, 1) over (3, h, w) ``canvas`` in place."""
    canvas.mul_(1.0 - alpha).add_(colour * alpha)


def lambert(nx: torch.Tensor, ny: torch.Tensor, light: float) -> torch.Tensor:
    """Diffuse shade in [0.35, 1] of a surface whose unit normal has image-plane part (nx, ny).

    The light comes from the side (``light`` in [-1, 1], -1 from the left), from above and
    from the camera; the normal's z (toward the camera) is ``sqrt(1 - nx^2 - ny^2)``.
    """
    nz = (1.0 - nx**2 - ny**2).clamp(min=0).sqrt()
    lx, ly, lz = light * 0.7, -0.5, 0.6
    norm = math.sqrt(lx * lx + ly * ly + lz * lz)
    return 0.35 + 0.65 * ((nx * lx + ny * ly + nz * lz) / norm).clamp(min=0)
