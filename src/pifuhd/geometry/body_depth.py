"""Depth carving from a body fitted to the photo: how far in front of and behind the body the
person's surface may lie, per cell of the crop square.

A single photo fixes x and y but not depth, and a pixel-aligned field trained on few people
fills the unseen depth with a column (the PIFuHD paper names human priors as the fix; ICON and
PaMIR use a fitted body). Here the fitted body (``pifuhd.body``) bounds it: at each cell the
surface lies within ``margin`` of the body's nearest and farthest z there, plus ``slope`` times
the cell's distance from the body's silhouette (a skirt or a coat that reaches away from the
body sideways may also reach away in depth). Cells beyond the body's silhouette take the range
of the nearest body cell.

Frames: the crop's cube (x right, y up, z toward the viewer), as :mod:`pifuhd.geometry.carving`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SAMPLES_PER_CELL = 8
"""Surface samples per cell area (the body is sampled uniformly by area, so every covered cell
gets samples of both the front and the back)."""

MAX_SAMPLES = 1_000_000

BODY_CELLS = 128
"""Side of the square the body's z range is worked out on (cells of about 1.6 cm): fine
enough for limbs, coarse enough that each cell holds samples of the body's front and back."""

SMOOTH_CELLS = 1.0
"""Gaussian sigma (cells) that smooths the body's z range, so the carved surface is smooth."""


def body_extent(vertices: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """(2, size, size) float32 nearest (min) and farthest (max) body z at each cell of the
    crop square (row 0 at y = +1); NaN where the body's samples miss the cell."""
    corners = vertices[faces]  # (F, 3, 3)
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    count = int(min(MAX_SAMPLES, SAMPLES_PER_CELL * area.sum() / (2.0 / size) ** 2))
    rng = np.random.default_rng(0)
    face = rng.choice(len(faces), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1.0
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    c = corners[face]
    points = c[:, 0] + u[:, None] * (c[:, 1] - c[:, 0]) + v[:, None] * (c[:, 2] - c[:, 0])
    col = np.floor((points[:, 0] + 1.0) * 0.5 * size).astype(np.int64)
    row = np.floor((1.0 - points[:, 1]) * 0.5 * size).astype(np.int64)
    ok = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    cell = row[ok] * size + col[ok]
    low = np.full(size * size, np.inf)
    high = np.full(size * size, -np.inf)
    np.minimum.at(low, cell, points[ok, 2])
    np.maximum.at(high, cell, points[ok, 2])
    out = np.stack([low, high]).reshape(2, size, size)
    out[:, ~np.isfinite(out[0])] = np.nan
    return out.astype(np.float32)


def body_depth_range(
    vertices: np.ndarray, faces: np.ndarray, size: int, margin: float, slope: float
) -> np.ndarray:
    """(2, size, size) float32 (low, high) z a surface point may have at each cell, from a body
    mesh ((V, 3) cube vertices, (F, 3) faces): the module's rule, worked out on a coarser
    ``BODY_CELLS`` square (every cell sampled on both the body's front and back), smoothed and
    resampled to ``size``. A body entirely outside the crop square gives no bound."""
    cells = min(BODY_CELLS, size)
    extent = body_extent(vertices, faces, cells)
    covered = np.isfinite(extent[0])
    if not covered.any():
        unbounded = np.full((size, size), np.inf, dtype=np.float32)
        return np.stack([-unbounded, unbounded])
    distance, (rows, cols) = ndimage.distance_transform_edt(~covered, return_indices=True)
    widen = margin + slope * distance * (2.0 / cells)
    low = ndimage.gaussian_filter(extent[0][rows, cols], SMOOTH_CELLS) - widen
    high = ndimage.gaussian_filter(extent[1][rows, cols], SMOOTH_CELLS) + widen
    zoom = size / cells
    return np.stack([ndimage.zoom(x, zoom, order=1, mode="nearest") for x in (low, high)]).astype(
        np.float32
    )
