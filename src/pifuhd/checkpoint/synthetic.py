"""Random-weight models whose occupancy field has a surface, for tests and benchmarks.

A randomly initialised PIFuHD predicts about 0.5 everywhere, so marching cubes finds nothing
meaningful. ``give_surface`` rescales only the fine MLP's output layer: with raw logit l(p)
and q its ``quantile`` over a grid of the cube for one image, the new logit is K (q - l(p)),
so the points with the lowest raw logits (a fraction ``quantile`` of the grid) become inside.
"""

from __future__ import annotations

import numpy as np
import torch

from pifuhd.config import PIFuHDConfig
from pifuhd.geometry.projection import default_calib
from pifuhd.models.pifuhd import PIFuHD, PIFuHDFeatures


def random_model(config: PIFuHDConfig, seed: int = 0) -> PIFuHD:
    """PIFuHD with PyTorch's default initialisation under ``torch.manual_seed(seed)``."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = PIFuHD(config)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


@torch.no_grad()
def fine_logits(model: PIFuHD, features: PIFuHDFeatures, points: torch.Tensor) -> torch.Tensor:
    """Raw (pre-sigmoid) fine-MLP output (B, 1, N) at points (B, 3, N) in the cube."""
    occupancy = model.query(features, points, default_calib(points.shape[0], points.device))
    return torch.logit(occupancy.double().clamp(1e-12, 1 - 1e-12)).float()


@torch.no_grad()
def give_surface(
    model: PIFuHD,
    features: PIFuHDFeatures,
    quantile: float = 0.1,
    gain: float = 4000.0,
    grid: int = 64,
) -> float:
    """Rescale the fine output layer in place so a fraction ``quantile`` of a ``grid``^3
    lattice of the cube is inside for these features; returns the threshold logit q."""
    axis = torch.linspace(-1.0, 1.0, grid + 1)[:-1]
    pts = torch.cartesian_prod(axis, axis, axis).T.unsqueeze(0)
    device = next(model.parameters()).device
    logits = torch.cat(
        [fine_logits(model, features, chunk.to(device)) for chunk in pts.split(65536, dim=2)],
        dim=2,
    )
    q = float(np.quantile(logits.flatten().cpu().numpy().astype(np.float64), quantile))
    last = model.mlp.filters[-1]
    last.weight.mul_(-gain)
    last.bias.mul_(-gain).add_(gain * q)
    return q
