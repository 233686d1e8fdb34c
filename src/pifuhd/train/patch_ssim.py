"""3D patch-wise SSIM loss for the colour network ("Avatar Texture Enhancement via 3D Patch-wise
SSIM Loss"), as pure tensor functions.

Around each sampled surface point the paper places a small cubic grid of points (3 x 3 x 3) and
compares the predicted and ground-truth colours on it with SSIM (luminance, contrast and
structure). The layout used throughout this module: the points of patch n are consecutive,
point index ``n * P + p`` with P = size**3, so that a (B, C, N * P) tensor reshapes to
(B, C, N, P). ``patch_points`` builds the query points in that layout.

Statistics (``stats``):
- ``"patch"`` (the paper's form): for every patch and channel, the mean, variance and
  covariance over the patch's P points; one SSIM per patch and channel, then averaged.
- ``"across"`` (what the authors' code computes): for every position p within the patch and
  every channel, the mean, variance and covariance over the N patches (the colours at grid
  position p of all patches of a batch item); one SSIM per position and channel, then averaged.
Variances and covariances are population ones (divided by the count, not count - 1).
"""

from __future__ import annotations

import torch

C1 = 0.01**2
"""SSIM luminance constant for values in [0, 1]: (K1 L)^2 with K1 = 0.01, L = 1."""
C2 = 0.03**2
"""SSIM contrast constant for values in [0, 1]: (K2 L)^2 with K2 = 0.03, L = 1."""
STATS = ("patch", "across")
"""Where the SSIM statistics are taken: within each patch, or across patches per position."""


def patch_offsets(
    size: int = 3,
    spacing: float = 1.0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Offsets of a cubic grid of size**3 points centred on 0.

    size: points per axis, odd and >= 1 (so that the centre is a grid point).
    spacing: distance between neighbouring grid points, in the units of the points the offsets
    will be added to (e.g. the normalised cube of the sampled points).
    Returns (size**3, 3) tensor: offset p = (i, j, k) * spacing - (size - 1) / 2 * spacing
    with p = (i * size + j) * size + k, i along x, j along y, k along z. The centre offset
    (0, 0, 0) is at p = (size**3 - 1) // 2; the grid spans +-(size - 1) / 2 * spacing per axis.
    """
    if size < 1 or size % 2 != 1:
        raise ValueError(f"patch size must be odd and >= 1, got {size}")
    steps = (torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2) * spacing
    grid = torch.meshgrid(steps, steps, steps, indexing="ij")
    return torch.stack(grid, dim=-1).reshape(-1, 3)


def patch_points(centers: torch.Tensor, size: int = 3, spacing: float = 1.0) -> torch.Tensor:
    """Query points of one patch around every centre.

    centers: (B, 3, N) points (any frame; ``spacing`` in the same units).
    Returns (B, 3, N * P), P = size**3, with point n * P + p = centers[:, :, n] + offset p of
    ``patch_offsets``; ``.reshape(B, 3, N, P)`` recovers the patches.
    """
    if centers.dim() != 3 or centers.shape[1] != 3:
        raise ValueError(f"centers must have shape (B, 3, N), got {tuple(centers.shape)}")
    offsets = patch_offsets(size, spacing, dtype=centers.dtype, device=centers.device)
    points = centers[:, :, :, None] + offsets.T[None, :, None, :]  # (B, 3, N, P)
    return points.reshape(centers.shape[0], 3, -1)


def _patches(pred: torch.Tensor, target: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """(B, C, N * P) pair -> two (B, C, N, P) tensors, after checking shapes."""
    if pred.shape != target.shape or pred.dim() != 3:
        raise ValueError(
            f"pred and target must both be (B, C, N * P), got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    p = size**3
    if pred.shape[2] == 0 or pred.shape[2] % p != 0:
        raise ValueError(f"point count {pred.shape[2]} is not a positive multiple of {p}")
    b, c, n = pred.shape
    return pred.reshape(b, c, n // p, p), target.reshape(b, c, n // p, p)


def patch_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    size: int = 3,
    c1: float = C1,
    c2: float = C2,
    stats: str = "patch",
) -> torch.Tensor:
    """Mean SSIM between predicted and ground-truth colours on 3D patches.

    pred, target: (B, C, N * P) colours in [0, 1], P = size**3, in the layout of
    ``patch_points`` (a colour net with tanh outputs in [-1, 1] is mapped to (x + 1) / 2 first).
    c1, c2: the SSIM constants for a data range of 1.
    stats: "patch" (statistics over the P points of each patch: the paper) or "across"
    (statistics over the N patches at each of the P positions: the authors' code); see the
    module docstring. Variances and covariance are population ones (divided by the count).

        SSIM = (2 mu_x mu_y + c1) (2 cov_xy + c2) / ((mu_x^2 + mu_y^2 + c1) (var_x + var_y + c2))

    Returns a scalar tensor (float32 or wider): SSIM averaged over batch, channels and patches
    (or positions); 1 when pred == target. Differentiable in pred.
    """
    if stats not in STATS:
        raise ValueError(f"stats must be one of {STATS}, got {stats!r}")
    x, y = _patches(pred, target, size)
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    dim = 3 if stats == "patch" else 2  # over the points of a patch, or over the patches
    mu_x = x.mean(dim=dim, keepdim=True)
    mu_y = y.mean(dim=dim, keepdim=True)
    dx, dy = x - mu_x, y - mu_y
    var_x = (dx * dx).mean(dim=dim)
    var_y = (dy * dy).mean(dim=dim)
    cov = (dx * dy).mean(dim=dim)
    mu_x, mu_y = mu_x.squeeze(dim), mu_y.squeeze(dim)
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2.0 * cov + c2) / (var_x + var_y + c2)
    return (luminance * contrast_structure).mean()


def patch_ssim_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    size: int = 3,
    c1: float = C1,
    c2: float = C2,
    stats: str = "patch",
) -> torch.Tensor:
    """1 - ``patch_ssim``: a scalar tensor, 0 for identical colours. Arguments as there."""
    return 1.0 - patch_ssim(pred, target, size=size, c1=c1, c2=c2, stats=stats)


def color_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    l1_weight: float = 1.0,
    ssim_weight: float = 1.0,
    size: int = 3,
    stats: str = "patch",
) -> torch.Tensor:
    """Colour loss of the texture fine-tuning: l1_weight * L1 + ssim_weight * (1 - SSIM).

    pred, target: (B, C, N * P) colours in [0, 1] in the patch layout of ``patch_points``
    (the L1 term is the mean absolute difference over all points and channels).
    With ssim_weight == 0 the SSIM term is skipped (any point count works then).
    Returns a scalar tensor.
    """
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    loss = l1_weight * (pred - target).abs().mean()
    if ssim_weight != 0:
        loss = loss + ssim_weight * patch_ssim_loss(pred, target, size=size, stats=stats)
    return loss
