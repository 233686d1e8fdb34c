"""Image and point augmentations for training, kept consistent with each other.

Geometric augmentation is one similarity of the normalised cube, ``A = [[f s, 0, 0, tx],
[0, s, 0, ty], [0, 0, s, 0]]`` (``f`` = -1 for a horizontal flip, ``s`` a scale, ``tx, ty`` a
shift in cube units): points map by ``A``, images are resampled so that the pixel at cube
``(x', y')`` shows what was at ``A^-1 (x', y')``, and normal maps also negate ``n_x`` when
flipped. So a surface point projected with the updated calibration still lands on the person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pifuhd.data.asset import IMAGE_HALF_EXTENT
from pifuhd.data.backgrounds import procedural_background

__all__ = [
    "AugmentConfig",
    "color_jitter",
    "flip_normals",
    "procedural_background",
    "random_similarity",
    "rotate_hue",
    "warp_images",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentations of one training view (all off: ``AugmentConfig.none()``)."""

    flip: float = 0.5
    """Probability of a horizontal flip."""
    scale: tuple[float, float] = (0.9, 1.1)
    """Range of the uniform scale about the image centre."""
    shift: float = 0.05
    """Largest shift along x and y, as a fraction of the image side."""
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.03
    """Largest hue rotation, in turns (1.0 = 360 degrees)."""
    background: str = "procedural"
    """'procedural' (a mixture of flat patterns and photo-like rooms, outdoor views, clutter and
    people at the borders: ``pifuhd.data.backgrounds``), 'grey', or a folder of images."""

    @staticmethod
    def none() -> AugmentConfig:
        return AugmentConfig(0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0, "grey")


def random_similarity(config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """(4, 4) float64 cube -> cube similarity drawn from ``config`` (see module docstring)."""
    flip = -1.0 if rng.random() < config.flip else 1.0
    scale = float(rng.uniform(*config.scale))
    tx, ty = (rng.uniform(-1.0, 1.0, size=2) * config.shift * 2.0 * IMAGE_HALF_EXTENT).tolist()
    return np.array([[flip * scale, 0, 0, tx], [0, scale, 0, ty], [0, 0, scale, 0], [0, 0, 0, 1.0]])


def warp_images(images: torch.Tensor, similarity: np.ndarray) -> torch.Tensor:
    """Resample (C, S, S) images (row 0 = top) under a cube similarity; outside is 0.

    Bilinear, with each image spanning ``[-IMAGE_HALF_EXTENT, IMAGE_HALF_EXTENT]`` in the cube.
    """
    a = np.asarray(similarity, dtype=np.float64)
    if np.allclose(a, np.eye(4)):
        return images
    inv = np.linalg.inv(a[:2, :2])
    offset = a[:2, 3]
    # grid_sample's (gx, gy) in [-1, 1] (align_corners=False) with gy down; cube y is up.
    # Output grid g' -> cube c' = E (g'x, -g'y) -> source c = inv (c' - t) -> g = (cx, -cy)/E.
    e = IMAGE_HALF_EXTENT
    flip_y = np.diag([1.0, -1.0])
    lin = flip_y @ inv @ flip_y
    trans = flip_y @ inv @ (-offset) / e
    theta = torch.tensor(np.concatenate([lin, trans[:, None]], axis=1), dtype=images.dtype)
    grid = F.affine_grid(theta[None], [1, *images.shape], align_corners=False)
    return F.grid_sample(
        images[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]


def flip_normals(normals: torch.Tensor, similarity: np.ndarray) -> torch.Tensor:
    """Negate ``n_x`` of (3, S, S) view-frame normal maps if the similarity mirrors x."""
    if similarity[0, 0] < 0:
        normals = normals.clone()
        normals[0] = -normals[0]
    return normals


def color_jitter(
    rgb: torch.Tensor, config: AugmentConfig, rng: np.random.Generator
) -> torch.Tensor:
    """Random brightness, contrast, saturation and hue of a (3, H, W) image in [0, 1]."""
    b = 1.0 + rng.uniform(-config.brightness, config.brightness)
    c = 1.0 + rng.uniform(-config.contrast, config.contrast)
    s = 1.0 + rng.uniform(-config.saturation, config.saturation)
    h = rng.uniform(-config.hue, config.hue)
    out = rgb * b
    grey = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2])[None]
    out = (out - grey.mean()) * c + grey.mean()
    grey = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2])[None]
    out = grey + (out - grey) * s
    if h != 0.0:
        out = rotate_hue(out, h)
    return out.clamp(0.0, 1.0)


def rotate_hue(rgb: torch.Tensor, turns: float) -> torch.Tensor:
    """Rotate hue by ``turns`` (1 = 360 degrees) about the grey axis, keeping luma roughly."""
    angle = 2.0 * math.pi * turns
    cos, sin = math.cos(angle), math.sin(angle)
    k = 1.0 / math.sqrt(3.0)
    # Rodrigues rotation about the unit grey axis (1, 1, 1)/sqrt(3).
    axis = torch.full((3,), k, dtype=rgb.dtype)
    cross = torch.tensor([[0, -k, k], [k, 0, -k], [-k, k, 0]], dtype=rgb.dtype)
    rot = cos * torch.eye(3, dtype=rgb.dtype) + sin * cross + (1 - cos) * torch.outer(axis, axis)
    return torch.einsum("ij,jhw->ihw", rot, rgb)
