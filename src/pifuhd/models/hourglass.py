"""Stacked-hourglass image encoder (Newell et al., ECCV 2016) as configured by PIFuHD.

Module and attribute names follow the released checkpoint's state-dict keys (``conv1``,
``bn1``, ``conv2``..``conv4``, ``m{i}``, ``top_m_{i}``, ``conv_last{i}``, ``bn_end{i}``,
``l{i}``, ``bl{i}``, ``al{i}``; inside an hourglass ``b1_{k}``, ``b2_{k}``, ``b3_{k}`` and
``b2_plus_1``), so the official weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pifuhd.config import HourglassConfig, Norm


def make_norm(kind: Norm, channels: int, groups: int = 32) -> nn.Module:
    """2-D normalisation layer; group norm uses min(groups, channels) groups."""
    if kind == "group":
        return nn.GroupNorm(min(groups, channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}")


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)


class ConvBlock(nn.Module):
    """Pre-activation residual block with three 3x3 convolutions whose outputs are concatenated.

    Widths in -> out/2 -> out/4 -> out/4 (concatenated: out). When in != out the residual
    goes through ``downsample`` = (norm, ReLU, 1x1 conv); that norm is the same module as
    ``bn4``, which is always registered (both names appear in the state dict).
    """

    def __init__(self, cin: int, cout: int, norm: Norm = "group", groups: int = 32) -> None:
        super().__init__()
        half, quarter = cout // 2, cout // 4
        self.conv1 = _conv3x3(cin, half)
        self.conv2 = _conv3x3(half, quarter)
        self.conv3 = _conv3x3(quarter, quarter)
        self.bn1 = make_norm(norm, cin, groups)
        self.bn2 = make_norm(norm, half, groups)
        self.bn3 = make_norm(norm, quarter, groups)
        self.bn4 = make_norm(norm, cin, groups)
        self.downsample: nn.Module | None = None
        if cin != cout:
            self.downsample = nn.Sequential(
                self.bn4, nn.ReLU(), nn.Conv2d(cin, cout, kernel_size=1, bias=False)
            )

    def forward(self, x: torch.Tensor, consume: bool = False) -> torch.Tensor:
        """(B, cin, H, W) -> (B, cout, H, W).

        Without autograd, activations and the residual sum work in place on tensors this
        block just made (the same values, one full-size tensor less at a time); with
        ``consume`` the caller gives up ``x`` and an identity residual is summed into it."""
        inplace = not torch.is_grad_enabled()
        out1 = self.conv1(F.relu(self.bn1(x), inplace=inplace))
        out2 = self.conv2(F.relu(self.bn2(out1), inplace=inplace))
        out3 = self.conv3(F.relu(self.bn3(out2), inplace=inplace))
        if not inplace:
            residual = x if self.downsample is None else self.downsample(x)
            return torch.cat([out1, out2, out3], dim=1) + residual
        # the same sums, written into the residual: no concatenated copy
        if self.downsample is not None:
            out = self._downsample_inplace(x)
        else:
            out = x if consume else x.clone()
        start = 0
        for part in (out1, out2, out3):
            out[:, start : start + part.shape[1]] += part
            start += part.shape[1]
        return out

    def _downsample_inplace(self, x: torch.Tensor) -> torch.Tensor:
        """``downsample(x)`` (norm, ReLU, 1x1 conv) with the ReLU in place."""
        norm, _, conv = self.downsample
        return conv(F.relu(norm(x), inplace=True))


UPSAMPLE_PARTS = 4
"""Channel groups the inference path upsamples one at a time (see ``Hourglass._level``)."""


def _upsample(x: torch.Tensor) -> torch.Tensor:
    """2x bicubic upsampling with aligned corners, as the released hourglass."""
    return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=True)


class Hourglass(nn.Module):
    """One hourglass of the given depth: at each level an upper branch at full resolution and
    a lower branch average-pooled by 2, recursed, and upsampled back (bicubic,
    align_corners=True); the two branches are summed."""

    def __init__(self, depth: int, channels: int, norm: Norm = "group", groups: int = 32):
        super().__init__()
        self.depth = depth
        self._register(depth, channels, norm, groups)

    def _register(self, level: int, channels: int, norm: Norm, groups: int) -> None:
        # Registration order matches the released state dict: b1, b2, (deeper | b2_plus), b3.
        self.add_module(f"b1_{level}", ConvBlock(channels, channels, norm, groups))
        self.add_module(f"b2_{level}", ConvBlock(channels, channels, norm, groups))
        if level > 1:
            self._register(level - 1, channels, norm, groups)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(channels, channels, norm, groups))
        self.add_module(f"b3_{level}", ConvBlock(channels, channels, norm, groups))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        upper = self._modules[f"b1_{level}"](x)
        # the lower branch's tensors are this method's own: its blocks may consume them
        own = not torch.is_grad_enabled()
        lower = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2), consume=own)
        if level > 1:
            lower = self._level(level - 1, lower)
        else:
            lower = self._modules[f"b2_plus_{level}"](lower, consume=own)
        lower = self._modules[f"b3_{level}"](lower, consume=own)
        if torch.is_grad_enabled():
            return upper + _upsample(lower)
        # without autograd: upsampled a quarter of the channels at a time and added in place
        # (bicubic works per channel: the same values, a quarter of the full-size temporary)
        step = -(-lower.shape[1] // UPSAMPLE_PARTS)
        for start in range(0, lower.shape[1], step):
            upper[:, start : start + step].add_(_upsample(lower[:, start : start + step]))
        return upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W); H and W must be divisible by 2**depth."""
        return self._level(self.depth, x)


class HourglassEncoder(nn.Module):
    """Stem (7x7 stride-2 conv + three conv blocks, optional 2x average pool) then stacked
    hourglasses with intermediate supervision outputs.

    ``forward`` returns the list of per-stack feature maps, each (B, out_channels, H/s, W/s)
    with s = ``config.stride`` (4 when pooling, else 2).
    """

    def __init__(self, config: HourglassConfig) -> None:
        super().__init__()
        self.config = config
        c, norm, g = config.channels, config.norm, config.norm_groups
        stem = c // 4
        self.conv1 = nn.Conv2d(config.in_channels, stem, kernel_size=7, stride=2, padding=3)
        self.bn1 = make_norm(norm, stem, g)
        self.conv2 = ConvBlock(stem, c // 2, norm, g)
        self.conv3 = ConvBlock(c // 2, c // 2, norm, g)
        self.conv4 = ConvBlock(c // 2, c, norm, g)
        out = config.out_channels
        for i in range(config.num_stacks):
            self.add_module(f"m{i}", Hourglass(config.depth, c, norm, g))
            self.add_module(f"top_m_{i}", ConvBlock(c, c, norm, g))
            self.add_module(f"conv_last{i}", nn.Conv2d(c, c, kernel_size=1))
            self.add_module(f"bn_end{i}", make_norm(norm, c, g))
            self.add_module(f"l{i}", nn.Conv2d(c, out, kernel_size=1))
            if i < config.num_stacks - 1:
                self.add_module(f"bl{i}", nn.Conv2d(c, c, kernel_size=1))
                self.add_module(f"al{i}", nn.Conv2d(out, c, kernel_size=1))

    def forward(self, image: torch.Tensor, last_only: bool = False) -> list[torch.Tensor]:
        """image: (B, in_channels, H, W), H and W divisible by stride * 2**depth.

        Returns per-stack features [(B, out_channels, H/stride, W/stride)]; with
        ``last_only`` only the last stack's (the only one used at inference).
        """
        inplace = not torch.is_grad_enabled()
        x = F.relu(self.bn1(self.conv1(image)), inplace=inplace)
        x = self.conv2(x)
        if self.config.pool:
            x = F.avg_pool2d(x, 2, stride=2)
        x = self.conv3(x, consume=inplace)
        x = self.conv4(x)
        outputs: list[torch.Tensor] = []
        n = self.config.num_stacks
        for i in range(n):
            y = self._modules[f"m{i}"](x)
            x = x if i < n - 1 else None  # the last stack frees its input early
            # one statement per layer: each input is freed as soon as it is consumed
            y = self._modules[f"top_m_{i}"](y, consume=inplace)
            y = self._modules[f"conv_last{i}"](y)
            y = F.relu(self._modules[f"bn_end{i}"](y), inplace=inplace)
            feat = self._modules[f"l{i}"](y)
            if not last_only or i == n - 1:
                outputs.append(feat)
            if x is not None:
                x = x + self._modules[f"bl{i}"](y) + self._modules[f"al{i}"](feat)
        return outputs
