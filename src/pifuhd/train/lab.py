"""Differentiable sRGB -> CIELAB for colour losses measured the way the colour metrics score.

The colour net is scored by CIEDE2000 (``pifuhd.eval.color_metrics``: PATD, PIPATD, the
validation's ``color_delta_e``) but PIFu trains it with L1 in sRGB. The two disagree: in sRGB a
wrong saturated guess and a right grey one can cost the same, while CIELAB distances track what
the eye sees (CIE 15:2004). ``lab_l1`` is the L1 distance in CIELAB, divided by 100 so that its
size is close to the sRGB L1's (both about 0.1 for a typical error).
"""

from __future__ import annotations

import torch

from pifuhd.eval.color_metrics import D65_WHITE, LAB_EPSILON, LAB_KAPPA, SRGB_TO_XYZ

LAB_SCALE = 100.0
"""``lab_l1`` divides CIELAB differences by this (L* spans 0..100)."""


def srgb_to_lab(rgb: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """sRGB in [0, 1] (channels along ``dim``) -> CIELAB (L*, a*, b*), D65, the same formula as
    ``pifuhd.eval.color_metrics.srgb_to_lab`` (IEC 61966-2-1 transfer, then CIELAB), with
    gradients. Inputs are clamped to [0, 1]."""
    c = rgb.clamp(0.0, 1.0).movedim(dim, -1)
    linear = torch.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    matrix = torch.as_tensor(SRGB_TO_XYZ, dtype=c.dtype, device=c.device)
    white = torch.as_tensor(D65_WHITE, dtype=c.dtype, device=c.device)
    xyz = (linear @ matrix.T) / white
    # the cube root only above epsilon: its slope is unbounded at 0
    root = xyz.clamp_min(LAB_EPSILON) ** (1.0 / 3.0)
    f = torch.where(xyz > LAB_EPSILON, root, LAB_KAPPA * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-1)
    lab = torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-1)
    return lab.movedim(-1, dim)


def lab_l1(pred: torch.Tensor, target: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Mean |CIELAB difference| / ``LAB_SCALE`` of two sRGB tensors (channels along ``dim``)."""
    return (srgb_to_lab(pred, dim) - srgb_to_lab(target, dim)).abs().mean() / LAB_SCALE
