"""Texture plumbing for synthetic people: value noise, uv rasterisation, atlas packing.

Procedural textures are *solid* textures: a colour function of 3-D rest-pose positions (cm),
baked into each piece's uv layout by rasterising its triangles in uv space, so patterns run
on across uv seams. Images are (H, W, 3) float32 sRGB in [0, 1], row 0 at the top (v = 1).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

_PRIMES = np.array([73856093, 19349663, 83492791], dtype=np.uint64)


def _hash01(cells: np.ndarray, seed: int) -> np.ndarray:
    """(N,) float64 in [0, 1): a deterministic hash of integer lattice cells (N, 3) and seed."""
    c = cells.astype(np.uint64)
    h = c[:, 0] * _PRIMES[0] + c[:, 1] * _PRIMES[1] + c[:, 2] * _PRIMES[2]
    h ^= np.uint64((seed * 2654435761 + 97) % (1 << 32))
    h ^= h >> np.uint64(13)
    h *= np.uint64(0x5BD1E995)
    h ^= h >> np.uint64(15)
    return (h & np.uint64(0xFFFFFF)).astype(np.float64) / float(1 << 24)


def value_noise(points: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """(N,) smooth noise in [-1, 1] at ``points`` (N, 3) with features about ``scale`` wide.

    Trilinear interpolation (smoothstep-weighted) of hashed values on a cubic lattice of step
    ``scale``; deterministic in ``seed``, unbounded domain.
    """
    p = points / scale
    base = np.floor(p)
    f = p - base
    w = f * f * (3.0 - 2.0 * f)
    cells = base.astype(np.int64)
    out = np.zeros(len(points))
    for corner in range(8):
        bits = [(corner >> k) & 1 for k in range(3)]
        weight = np.ones(len(points))
        for k, bit in enumerate(bits):
            weight *= w[:, k] if bit else 1.0 - w[:, k]
        out += weight * _hash01(cells + np.array(bits), seed)
    return 2.0 * out - 1.0


def fbm(points: np.ndarray, scale: float, seed: int, octaves: int = 3) -> np.ndarray:
    """(N,) fractal sum of :func:`value_noise` octaves (halving scale and amplitude), ~[-1, 1]."""
    total, amplitude, norm = np.zeros(len(points)), 1.0, 0.0
    for k in range(octaves):
        total += amplitude * value_noise(points, scale / 2**k, seed + 7919 * k)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def rasterize_uv(uv: np.ndarray, faces: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which triangle covers each texel of a ``size`` x ``size`` image, and where.

    Args:
        uv: (N, 2) in [0, 1], v up; faces: (F, 3) indices into ``uv``.
    Returns:
        face_id: (size, size) int64, -1 where no triangle covers the texel centre (row 0 = top);
        bary: (size, size, 3) float64 barycentric coordinates of the texel centre in its face
        (clipped to the triangle), zeros where uncovered.
    """
    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    px = np.stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1)
    for i, tri in enumerate(px[faces]):
        code = i + 1
        draw.polygon(
            [tuple(p) for p in tri], fill=(code & 255, (code >> 8) & 255, (code >> 16) & 255)
        )
    rgb = np.asarray(canvas).astype(np.int64)
    face_id = rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16) - 1
    bary = np.zeros((size, size, 3))
    rows, cols = np.nonzero(face_id >= 0)
    if len(rows):
        fid = face_id[rows, cols]
        a, b, c = (px[faces[fid, k]] for k in range(3))
        p = np.stack([cols, rows], axis=1).astype(np.float64)
        v0, v1, v2 = b - a, c - a, p - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        den = np.where(np.abs(den) < 1e-12, 1e-12, den)
        l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        lam = np.clip(np.stack([1.0 - l1 - l2, l1, l2], axis=1), 0.0, 1.0)
        bary[rows, cols] = lam / lam.sum(axis=1, keepdims=True)
    return face_id, bary


def fill_from_nearest(image: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Copy into every uncovered texel the value of the nearest covered one (uv gutters).

    Args:
        image: (H, W, C); covered: (H, W) bool. Returns a new (H, W, C) array.
    """
    if covered.all() or not covered.any():
        return image.copy()
    _, (rows, cols) = ndimage.distance_transform_edt(~covered, return_indices=True)
    return image[rows, cols]


def atlas_grid(n_tiles: int, atlas_size: int) -> tuple[int, int]:
    """(tiles per side, tile size in texels) of a square atlas holding ``n_tiles`` tiles."""
    per_side = max(1, math.ceil(math.sqrt(n_tiles)))
    return per_side, atlas_size // per_side


def tile_uv(uv: np.ndarray, tile: int, per_side: int, tile_size: int) -> np.ndarray:
    """(N, 2) atlas uv of a piece's own uv (N, 2) in [0, 1] placed in tile ``tile``.

    Tiles fill the atlas row by row from the top left; a 2-texel inset keeps bilinear lookups
    inside the tile.
    """
    row, col = divmod(tile, per_side)
    inset = 2.0 / tile_size
    u = (col + inset + uv[:, 0] * (1.0 - 2 * inset)) / per_side
    v = 1.0 - (row + inset + (1.0 - uv[:, 1]) * (1.0 - 2 * inset)) / per_side
    return np.stack([u, v], axis=1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> uint8, rounded."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
