"""Silhouette carving: grid points the person cannot occupy are outside, without a network call.

A pixel-aligned implicit function sees the person only through the pixel a point projects to,
so a point whose (x, y) falls outside the person's silhouette has no reason to be inside; PIFu
(Saito et al., ICCV 2019) bounds the surface by the visual hull for the same reason. The
*allowed* region is the person mask resampled over the crop square and dilated by a margin;
points near the cube's faces are never inside either, so no surface touches the border.

Frames: cube (x, y, z) in [-1, 1]^3, x right, y up; the allowed image's row 0 is y = +1 and its
column 0 is x = -1, each cell covering 2 / M of the cube (``docs/conventions.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

from pifuhd.body.observations import mask_to_crop
from pifuhd.io.crops import CropRect

ALLOWED_SIZE = 512
"""Side of the allowed image over the crop square."""

SOFT = 0.015
"""Half-width (cube units) of the ramp at a depth bound: occupancy is capped by a ramp from 1
to 0 across [bound - SOFT, bound + SOFT], so the 0.5 level crosses at the bound itself and the
carved surface is as smooth as the bound (a hard 0 would follow the grid's cells)."""


def allowed_region(
    mask: np.ndarray | None,
    crop: CropRect,
    image_size: tuple[int, int],
    margin: float,
    size: int = ALLOWED_SIZE,
) -> np.ndarray:
    """(size, size) bool over the crop square: where the person may be.

    Args:
        mask: (H, W) bool person mask over the photo, or None (then the whole photo).
        crop: the crop square in photo pixels; cells beyond the photo are never allowed.
        image_size: (H, W) of the photo.
        margin: dilation radius as a share of the crop side (a disc of ``margin * size`` cells).
    """
    region = np.ones(image_size, dtype=bool) if mask is None else mask
    allowed = mask_to_crop(region, crop, size)
    radius = round(margin * size)
    if radius > 0 and mask is not None:
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        disc = xx**2 + yy**2 <= radius**2
        inside = mask_to_crop(np.ones(image_size, dtype=bool), crop, size)
        allowed = ndimage.binary_dilation(allowed, structure=disc) & inside
    return allowed


def depth_range(allowed: np.ndarray, body: np.ndarray | None = None) -> np.ndarray:
    """(2, M, M) float32 (low, high) cube z a point may have at each cell of the crop square:
    empty (+inf, -inf) where ``allowed`` ((M, M) bool) is False, unbounded where True, and
    within ``body`` ((2, M, M), ``pifuhd.geometry.body_depth``) where that is given."""
    low = np.where(allowed, -np.inf, np.inf).astype(np.float32)
    high = np.where(allowed, np.inf, -np.inf).astype(np.float32)
    if body is not None:
        if body.shape[1:] != allowed.shape:
            raise ValueError(f"body range {body.shape} does not match allowed {allowed.shape}")
        low, high = np.maximum(low, body[0]), np.minimum(high, body[1])
    return np.stack([low, high])


def allowed_points(points: np.ndarray, bounds: np.ndarray, border: float) -> np.ndarray:
    """(N,) bool: which (N, 3) cube points lie within ``bounds`` ((2, M, M) from
    :func:`depth_range`) and ``border`` inside the cube's faces."""
    size = bounds.shape[-1]
    col = np.clip(np.floor((points[:, 0] + 1.0) * 0.5 * size), 0, size - 1).astype(np.int64)
    row = np.clip(np.floor((1.0 - points[:, 1]) * 0.5 * size), 0, size - 1).astype(np.int64)
    inner = (np.abs(points) < 1.0 - border).all(axis=1)
    z = points[:, 2]
    return inner & (z >= bounds[0, row, col] - SOFT) & (z <= bounds[1, row, col] + SOFT)


def depth_cap(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(N,) float32 in [0, 1]: the occupancy cap of each point from its cell's depth bounds
    (1 well inside, 0.5 at a bound, 0 beyond it by ``SOFT``)."""
    size = bounds.shape[-1]
    col = np.clip(np.floor((points[:, 0] + 1.0) * 0.5 * size), 0, size - 1).astype(np.int64)
    row = np.clip(np.floor((1.0 - points[:, 1]) * 0.5 * size), 0, size - 1).astype(np.int64)
    z = points[:, 2]
    room = np.minimum(bounds[1, row, col] - z, z - bounds[0, row, col])
    return np.clip(0.5 + room / (2.0 * SOFT), 0.0, 1.0).astype(np.float32)


def allowed_points_torch(points: torch.Tensor, bounds: torch.Tensor, border: float) -> torch.Tensor:
    """:func:`allowed_points` on tensors (``bounds`` on the points' device)."""
    size = bounds.shape[-1]
    col = ((points[:, 0] + 1.0) * 0.5 * size).floor().clamp(0, size - 1).long()
    row = ((1.0 - points[:, 1]) * 0.5 * size).floor().clamp(0, size - 1).long()
    inner = (points.abs() < 1.0 - border).all(dim=1)
    z = points[:, 2]
    return inner & (z >= bounds[0, row, col] - SOFT) & (z <= bounds[1, row, col] + SOFT)


def depth_cap_torch(points: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """:func:`depth_cap` on tensors."""
    size = bounds.shape[-1]
    col = ((points[:, 0] + 1.0) * 0.5 * size).floor().clamp(0, size - 1).long()
    row = ((1.0 - points[:, 1]) * 0.5 * size).floor().clamp(0, size - 1).long()
    z = points[:, 2]
    room = torch.minimum(bounds[1, row, col] - z, z - bounds[0, row, col])
    return (0.5 + room / (2.0 * SOFT)).clamp(0.0, 1.0)


def carved_query(
    query: Callable[[np.ndarray], np.ndarray], bounds: np.ndarray, border: float
) -> Callable[[np.ndarray], np.ndarray]:
    """``query`` (points (N, 3) float32 -> (N,) occupancy) with 0 wherever the point is not
    allowed (``bounds``: :func:`depth_range`) and capped by :func:`depth_cap` where it is; the
    network sees only the allowed points."""

    def carved(points: np.ndarray) -> np.ndarray:
        keep = allowed_points(points, bounds, border)
        out = np.zeros(len(points), dtype=np.float32)
        if keep.any():
            inside = np.ascontiguousarray(points[keep])
            out[keep] = np.minimum(query(inside), depth_cap(inside, bounds))
        return out

    return carved


def carved_query_torch(
    query: Callable[[torch.Tensor], torch.Tensor], bounds: np.ndarray, border: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """:func:`carved_query` for tensor queries (points and occupancy on one device)."""
    cache: dict[torch.device, torch.Tensor] = {}

    def carved(points: torch.Tensor) -> torch.Tensor:
        if points.device not in cache:
            cache[points.device] = torch.from_numpy(bounds).to(points.device)
        keep = allowed_points_torch(points, cache[points.device], border)
        out = torch.zeros(len(points), dtype=torch.float32, device=points.device)
        if bool(keep.any()):
            inside = points[keep].contiguous()
            cap = depth_cap_torch(inside, cache[points.device])
            out[keep] = torch.minimum(query(inside).float(), cap)
        return out

    return carved
