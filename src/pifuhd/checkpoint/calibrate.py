"""Moving a trained model's fine surface: a constant added to the fine MLP's pre-sigmoid output.

Training draws the near-surface points half inside and half outside (PIFu's balanced
sampling), but near a convex surface fewer than half of the points at a given distance lie
inside. A classifier trained on balanced classes over-states the inside probability by the
ratio of the priors (prior shift: Saerens, Latinne and Decaestecker, Neural Computation 2002),
which moves the 0.5 level outward and thickens the mesh. The correction for a prior shift is a
constant on the logit, ``log(pi / (1 - pi))``; here it is chosen on validation views (Platt
scaling's bias term without its slope), and the mesh is still extracted at 0.5.
"""

from __future__ import annotations

import copy

import torch

from pifuhd.models.pifuhd import PIFuHD


def with_fine_logit_shift(model: PIFuHD, shift: float) -> PIFuHD:
    """A copy of ``model`` whose fine occupancy is ``sigmoid(logit + shift)``.

    ``shift < 0`` thins the surface (fewer points inside), ``> 0`` thickens it. The coarse
    level is unchanged (the fine MLP reads its features, not its occupancy).
    """
    out = copy.deepcopy(model)
    last = out.mlp.filters[len(out.mlp.filters) - 1]
    with torch.no_grad():
        last.bias.add_(float(shift))
    return out
