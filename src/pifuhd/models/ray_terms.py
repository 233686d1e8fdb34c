"""Per-ray terms of the fast query (``pifuhd.models.fast_query``): rays from consecutive
points, bilinear sampling of per-pixel tables, and the columns that add per-ray rows to a
matrix product.

Frames: uv in ``grid_sample``'s convention (align_corners=True): -1 / +1 at the centres of
the first / last pixel.
"""

from __future__ import annotations

import torch


def ray_segments(uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Group consecutive points with equal (u, v) into rays.

    Args:
        uv: (N, 2) projected image coordinates, N >= 1.

    Returns:
        ray: (N,) int64, the ray of each point (0, 1, ... in order of appearance).
        first: (R,) int64, the index of each ray's first point.
    """
    new = torch.ones(uv.shape[0], dtype=torch.bool, device=uv.device)
    new[1:] = (uv[1:] != uv[:-1]).any(dim=1)
    first = torch.nonzero(new)[:, 0]
    ray = torch.cumsum(new, 0) - 1
    return ray, first


def ray_columns(out: torch.Tensor, ray: torch.Tensor, depth: torch.Tensor) -> None:
    """Write the columns that add per-ray rows ``value + depth * tilt`` to a product.

    Row n of ``out`` (N, 3S), zero on entry, gets 1 in column ``ray[n]``, and the depth split in
    two parts of ``out``'s dtype (hi = the depth rounded, lo = the rest) in columns
    ``S + ray[n]`` and ``2S + ray[n]``: times the stacked rows ``[value; tilt; tilt]`` (3S, C)
    this is ``value[ray] + depth * tilt[ray]`` with the depth kept to about 16 bits in bfloat16.
    S, the ray slots, may exceed the rays (rows past them are never read).

    Args:
        out: (N, 3S) zeros, any float dtype; written in place.
        ray: (N,) int64 ray of each point, in [0, S).
        depth: (N,) float32.
    """
    n_rays = out.shape[1] // 3
    hi = depth.to(out.dtype)
    lo = (depth - hi.float()).to(out.dtype)
    rows = torch.arange(ray.shape[0], device=ray.device)
    out[rows, ray] = 1.0
    out[rows, ray + n_rays] = hi
    out[rows, ray + 2 * n_rays] = lo


def bilinear_rows(table: torch.Tensor, size: tuple[int, int], uv: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling of a per-pixel table, as ``grid_sample`` (align_corners=True, zeros).

    Args:
        table: (H*W, K) values of a (K, H, W) map, row y * W + x.
        size: (H, W).
        uv: (R, 2) coordinates, -1 / +1 at the centres of the first / last pixel.

    Returns:
        (R, K) float32; taps outside the map contribute zero.
    """
    h, w = size
    x = (uv[:, 0].double() + 1.0) * 0.5 * (w - 1)
    y = (uv[:, 1].double() + 1.0) * 0.5 * (h - 1)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0).float(), (y - y0).float()
    x0, y0 = x0.long(), y0.long()
    out = torch.zeros(uv.shape[0], table.shape[1], dtype=table.dtype, device=table.device)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            valid = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
            weight = (wx * wy * valid).unsqueeze(1)
            out.addcmul_(table.index_select(0, index), weight)
    return out
