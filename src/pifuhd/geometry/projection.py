"""Orthographic projection and pixel-aligned feature sampling.

Frames (see docs/conventions.md): points live in the crop's normalised cube [-1, 1]^3 with
x right, y up, z toward the viewer. A calibration matrix maps them to normalised image
coordinates (u right, v down, both in [-1, 1]) plus depth; at inference it is the identity
with the y axis negated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def default_calib(batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
    """(B, 4, 4) float32 test-time calibration: identity with y negated (y up -> v down)."""
    calib = torch.eye(4, device=device).repeat(batch, 1, 1)
    calib[:, 1, 1] = -1.0
    return calib


def orthographic(points: torch.Tensor, calib: torch.Tensor) -> torch.Tensor:
    """Apply an affine calibration to points.

    points: (B, 3, N) in the normalised cube; calib: (B, 3, 4) or (B, 4, 4).
    Returns (B, 3, N): (u, v) in normalised image coordinates and depth z.
    """
    rot = calib[:, :3, :3]
    trans = calib[:, :3, 3:4]
    return torch.baddbmm(trans, rot, points)


def sample_features(features: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear pixel-aligned sampling.

    features: (B, C, H, W); uv: (B, 2, N) with -1 / +1 at the centres of the first / last
    pixel (align_corners=True); outside the map the features are zero.
    Returns (B, C, N).
    """
    grid = uv.transpose(1, 2).unsqueeze(2)  # (B, N, 1, 2)
    out = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[..., 0]


def inside_cube(xyz: torch.Tensor, dims: int = 3) -> torch.Tensor:
    """(B, 3, N) -> (B, 1, N) float mask, 1 where the first ``dims`` coords are in [-1, 1]."""
    inside = ((xyz[:, :dims] >= -1.0) & (xyz[:, :dims] <= 1.0)).all(dim=1, keepdim=True)
    return inside.to(xyz.dtype)
