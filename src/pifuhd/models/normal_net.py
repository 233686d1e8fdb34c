"""Front / back normal-map predictors: the pix2pixHD global generator (Wang et al., CVPR 2018).

Layers live in one ``nn.Sequential`` called ``model`` so that the state-dict keys
(``model.{index}...``) match the released checkpoint. Instance norm has no affine
parameters; padding is by reflection.
"""

from __future__ import annotations

import torch
from torch import nn

from pifuhd.config import NormalNetConfig


class ResidualBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x); convs at ``conv_block.1/.5``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class NormalNet(nn.Module):
    """RGB image (B, 3, H, W) in [-1, 1] -> normal map (B, 3, H, W) in [-1, 1] (tanh).

    H and W must be divisible by 2**num_downsample.
    """

    def __init__(self, config: NormalNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config.base_channels
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(config.in_channels, c, kernel_size=7),
            nn.InstanceNorm2d(c),
            nn.ReLU(),
        ]
        for i in range(config.num_downsample):
            cin = c * 2**i
            layers += [
                nn.Conv2d(cin, 2 * cin, kernel_size=3, stride=2, padding=1),
                nn.InstanceNorm2d(2 * cin),
                nn.ReLU(),
            ]
        bottleneck = c * 2**config.num_downsample
        layers += [ResidualBlock(bottleneck) for _ in range(config.num_blocks)]
        for i in range(config.num_downsample):
            cin = bottleneck // 2**i
            layers += [
                nn.ConvTranspose2d(
                    cin, cin // 2, kernel_size=3, stride=2, padding=1, output_padding=1
                ),
                nn.InstanceNorm2d(cin // 2),
                nn.ReLU(),
            ]
        layers += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c, config.out_channels, kernel_size=7),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)
