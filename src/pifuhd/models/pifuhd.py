"""PIFuHD: the two-level pixel-aligned implicit function (Saito et al., CVPR 2020).

The fine level sees the image at twice the coarse resolution and replaces depth by Omega,
the coarse MLP's intermediate output, so that it can be trained on crops (paper Sec. 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pifuhd.config import PIFuHDConfig
from pifuhd.geometry.projection import inside_cube, orthographic, sample_features
from pifuhd.models.hourglass import HourglassEncoder
from pifuhd.models.mlp import PixelAlignedMLP
from pifuhd.models.pifu import CoarsePIFu


@dataclass
class PIFuHDFeatures:
    """Image features of both levels for one batch of images (last hourglass stack only)."""

    coarse: torch.Tensor
    """(B, C_coarse, H/4, W/4) for a coarse image of H x W."""
    fine: torch.Tensor
    """(B, C_fine, H'/2, W'/2) for a fine image of H' x W'."""
    normals: list[torch.Tensor]
    """Predicted [front, back] normal maps at the coarse size, (B, 3, H, W) in [-1, 1]."""


class PIFuHD(nn.Module):
    """Both levels. Submodules ``image_filter`` and ``mlp`` (fine) and ``netG`` (coarse)
    carry the released checkpoint's names, so its state dict loads strictly."""

    def __init__(self, config: PIFuHDConfig) -> None:
        super().__init__()
        self.config = config
        self.image_filter = HourglassEncoder(config.fine.encoder)
        self.mlp = PixelAlignedMLP(config.fine.mlp)
        self.netG = CoarsePIFu(config.coarse)

    def encode(self, image_coarse: torch.Tensor, image_fine: torch.Tensor) -> PIFuHDFeatures:
        """image_coarse: (B, 3, H, W), image_fine: (B, 3, 2H, 2W) of the same crop, in [-1, 1].

        The normal maps are predicted from the coarse image and upsampled for the fine one.
        """
        normals = self.netG.predict_normals(image_coarse)
        coarse_in = self.netG.encoder_input(image_coarse, normals)
        coarse = self.netG.image_filter(coarse_in, last_only=True)[-1]
        fine_in = self.netG.encoder_input(image_fine, normals)
        fine = self.image_filter(fine_in, last_only=True)[-1]
        return PIFuHDFeatures(coarse=coarse, fine=fine, normals=normals)

    def query(
        self, features: PIFuHDFeatures, points: torch.Tensor, calib: torch.Tensor
    ) -> torch.Tensor:
        """Fine occupancy (B, 1, N) in [0, 1] at points (B, 3, N); 0 outside the image square."""
        return self.query_levels(features, points, calib)[1]

    def query_levels(
        self, features: PIFuHDFeatures, points: torch.Tensor, calib: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(coarse occupancy, fine occupancy), each (B, 1, N)."""
        coarse_occ, omega = self.netG.query(features.coarse, points, calib)
        xyz = orthographic(points, calib)
        local = sample_features(features.fine, xyz[:, :2])
        fine_occ, _ = self.mlp(torch.cat([local, omega], dim=1))
        return coarse_occ, fine_occ * inside_cube(xyz, 2)

    def forward(
        self,
        image_coarse: torch.Tensor,
        image_fine: torch.Tensor,
        points: torch.Tensor,
        calib: torch.Tensor,
    ) -> torch.Tensor:
        """Fine occupancy (B, 1, N) of points given both images (see ``encode``)."""
        return self.query(self.encode(image_coarse, image_fine), points, calib)


def upsample_normals(normals: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), bilinear with align_corners=True."""
    return F.interpolate(normals, size=(size, size), mode="bilinear", align_corners=True)
