"""Pixel-aligned MLP (PIFu's surface classifier) with re-concatenated input.

Layers are 1x1 ``Conv1d`` named ``filters.{j}`` as in the released checkpoint; leaky ReLU
(slope 0.01) between layers and a sigmoid at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pifuhd.config import MlpConfig


class PixelAlignedMLP(nn.Module):
    """Maps per-point features (B, C_in, N) to occupancy (B, 1, N) in [0, 1].

    Layer j's input is the previous output, concatenated with the MLP's own input when
    j is in ``config.skip_layers``. The activated output of ``config.merge_layer`` is
    returned too (Omega, the fine level's input in PIFuHD).
    """

    def __init__(self, config: MlpConfig) -> None:
        super().__init__()
        self.config = config
        dims = config.dims
        self.filters = nn.ModuleList()
        for j in range(len(dims) - 1):
            cin = dims[j] + (dims[0] if j in config.skip_layers else 0)
            self.filters.append(nn.Conv1d(cin, dims[j + 1], kernel_size=1))
        if config.norm != "none":
            self.norms = nn.ModuleList(
                nn.GroupNorm(32, d) if config.norm == "group" else nn.BatchNorm1d(d)
                for d in dims[1:-1]
            )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features: (B, C_in, N) -> (occupancy (B, out, N) in [0, 1], Omega (B, C_merge, N))."""
        logits, omega = self.forward_logits(features)
        return torch.sigmoid(logits), omega

    def forward_logits(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features: (B, C_in, N) -> (pre-sigmoid output (B, out, N), Omega (B, C_merge, N)).

        Training takes the logits for a numerically stable cross-entropy.
        """
        y = features
        last = len(self.filters) - 1
        omega = features
        for j, layer in enumerate(self.filters):
            if j in self.config.skip_layers:
                y = torch.cat([y, features], dim=1)
            y = layer(y)
            if j != last:
                if self.config.norm != "none":
                    y = self.norms[j](y)
                y = F.leaky_relu(y)
            if j == self.config.merge_layer:
                omega = y
        return y, omega
