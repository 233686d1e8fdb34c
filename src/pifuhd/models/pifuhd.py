"""PIFuHD: the two-level pixel-aligned implicit function (Saito et al., CVPR 2020).

The fine level sees the image at twice the coarse resolution and replaces depth by Omega,
the coarse MLP's intermediate output, so that it can be trained on crops (paper Sec. 3.2).
"""

from __future__ import annotations

from collections.abc import Callable
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
    body: Callable[[torch.Tensor], torch.Tensor] | None = None
    """For a body-guided model (``coarse.body_channels``): points (N, 3) in the cube -> the
    fitted body's features (body_channels, N) there (``pifuhd.geometry.body_field``); batch
    size 1. None: no body (zeros)."""


class PIFuHD(nn.Module):
    """Both levels. Submodules ``image_filter`` and ``mlp`` (fine) and ``netG`` (coarse)
    carry the released checkpoint's names, so its state dict loads strictly."""

    def __init__(self, config: PIFuHDConfig) -> None:
        super().__init__()
        self.config = config
        self.image_filter = HourglassEncoder(config.fine.encoder)
        self.mlp = PixelAlignedMLP(config.fine.mlp)
        self.netG = CoarsePIFu(config.coarse)

    def encode(
        self,
        image_coarse: torch.Tensor,
        image_fine: torch.Tensor,
        body_normals: torch.Tensor | None = None,
    ) -> PIFuHDFeatures:
        """image_coarse: (B, 3, H, W), image_fine: (B, 3, 2H, 2W) of the same crop, in [-1, 1];
        body_normals: (B, 6, H, W) the fitted body's front/back normal maps for body-guided
        normal nets (``CoarsePIFu.predict_normals``), else None.

        The normal maps are predicted from the coarse image and upsampled for the fine one.
        """
        normals = self.netG.predict_normals(image_coarse, body_normals)
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
        self,
        features: PIFuHDFeatures,
        points: torch.Tensor,
        calib: torch.Tensor,
        fine_calib: torch.Tensor | None = None,
        body: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(coarse occupancy, fine occupancy), each (B, 1, N) in [0, 1].

        ``calib`` projects to the coarse image; ``fine_calib`` (B, 3|4, 4), when given,
        projects the same points to the fine image instead of ``calib`` (training on crops:
        the fine image is a crop while the coarse image is whole). ``body`` (B, 4, N): the
        body features of a body-guided model; None takes ``features.body`` (batch 1) if set.
        """
        if body is None and features.body is not None and self.netG.config.body_channels:
            body = features.body(points[0].T)[None]
        coarse_occ, omega = self.netG.query(features.coarse, points, calib, body)
        logits, inside = self.fine_logits(
            features.fine, omega, points, calib if fine_calib is None else fine_calib
        )
        return coarse_occ, torch.sigmoid(logits) * inside

    def fine_logits(
        self,
        fine_features: torch.Tensor,
        omega: torch.Tensor,
        points: torch.Tensor,
        fine_calib: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-sigmoid fine occupancy for training.

        fine_features: (B, C_fine, h, w) one stack's map; omega: (B, C_merge, N) from the
        coarse MLP at the same points; points: (B, 3, N) in the cube; fine_calib: (B, 3|4, 4)
        cube -> fine image (u, v). Returns (logits (B, 1, N), inside (B, 1, N) float, 1 where
        |u|, |v| <= 1); the fine occupancy is ``sigmoid(logits) * inside``.
        """
        xyz = orthographic(points, fine_calib)
        local = sample_features(fine_features, xyz[:, :2])
        logits, _ = self.mlp.forward_logits(torch.cat([local, omega], dim=1))
        return logits, inside_cube(xyz, 2)

    def forward(
        self,
        image_coarse: torch.Tensor,
        image_fine: torch.Tensor,
        points: torch.Tensor,
        calib: torch.Tensor,
    ) -> torch.Tensor:
        """Fine occupancy (B, 1, N) of points given both images (see ``encode``)."""
        return self.query(self.encode(image_coarse, image_fine), points, calib)


def empty_model(config: PIFuHDConfig) -> PIFuHD:
    """A model without storage (meta device): no time spent on a random initialisation that
    a checkpoint overwrites; ``load_state_dict(..., assign=True)`` gives it its weights."""
    with torch.device("meta"):
        return PIFuHD(config)


def upsample_normals(normals: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), bilinear with align_corners=True."""
    return F.interpolate(normals, size=(size, size), mode="bilinear", align_corners=True)


def crop_upsampled(maps: torch.Tensor, origins: torch.Tensor, crop: int, full: int) -> torch.Tensor:
    """Crops of maps as if first upsampled to ``full`` (``upsample_normals``), without
    building the full-size maps.

    maps: (B, C, H, W); origins: (B, 2) integer (x0, y0), the crops' top-left pixels in the
    ``full`` x ``full`` image. Returns (B, C, crop, crop) equal (to float rounding) to
    ``upsample_normals(maps, full)[b, :, y0:y0 + crop, x0:x0 + crop]``.
    """
    steps = torch.arange(crop, device=maps.device, dtype=torch.float64)
    origins = origins.to(device=maps.device, dtype=torch.float64)
    scale = 2.0 / (full - 1)
    xs = -1.0 + (origins[:, 0:1] + steps) * scale  # (B, crop)
    ys = -1.0 + (origins[:, 1:2] + steps) * scale
    b = maps.shape[0]
    grid = torch.stack(
        [xs[:, None, :].expand(b, crop, crop), ys[:, :, None].expand(b, crop, crop)], dim=-1
    )
    return F.grid_sample(
        maps, grid.to(maps.dtype), mode="bilinear", padding_mode="border", align_corners=True
    )
