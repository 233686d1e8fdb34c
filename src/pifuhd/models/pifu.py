"""The coarse level of PIFuHD: a pixel-aligned implicit function at 512^2 (PIFu, ICCV 2019,
with the front/back normal maps of PIFuHD, CVPR 2020).

f(X) = g(Phi(x, I), Z): the image (plus predicted normals) is encoded to a 128^2 feature map;
a point X is projected to x, the feature is sampled there, and the MLP g gets it together
with the normalised depth Z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pifuhd.config import CoarseConfig
from pifuhd.geometry.projection import inside_cube, orthographic, sample_features
from pifuhd.models.hourglass import HourglassEncoder
from pifuhd.models.mlp import PixelAlignedMLP
from pifuhd.models.normal_net import NormalNet


class CoarsePIFu(nn.Module):
    """Coarse level; submodule names ``image_filter``, ``mlp``, ``netF``, ``netB`` match the
    released checkpoint (prefixed there by ``netG.``)."""

    def __init__(self, config: CoarseConfig) -> None:
        super().__init__()
        self.config = config
        self.image_filter = HourglassEncoder(config.encoder)
        self.mlp = PixelAlignedMLP(config.mlp)
        self.netF = NormalNet(config.front_normal) if config.front_normal else None
        self.netB = NormalNet(config.back_normal) if config.back_normal else None

    @property
    def body_normals(self) -> bool:
        """Whether the normal nets also read the fitted body's normal maps (body-guided normal
        prediction, ICON): a net with 6 input channels reads the photo and its side's map."""
        return any(
            net is not None and net.config.in_channels == 6 for net in (self.netF, self.netB)
        )

    def predict_normals(
        self, image: torch.Tensor, body_normals: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """image (B, 3, H, W) in [-1, 1] -> [front, back] normal maps (B, 3, H, W), those
        the configuration has.

        body_normals: (B, 6, H, W) the fitted body's [front, back] normal maps
        (``pifuhd.geometry.body_normals``), read by nets with 6 input channels; None gives
        them zeros (no body), as training does for its body-dropout items.
        """
        out = []
        for side, net in enumerate((self.netF, self.netB)):
            if net is None:
                continue
            if net.config.in_channels == 6:
                out.append(net(torch.cat([image, self._side_map(image, body_normals, side)], 1)))
            else:
                out.append(net(image))
        return out

    @staticmethod
    def _side_map(
        image: torch.Tensor, body_normals: torch.Tensor | None, side: int
    ) -> torch.Tensor:
        """The (B, 3, H, W) body normal map of one side (0 front, 1 back), zeros without."""
        b, _, h, w = image.shape
        if body_normals is None:
            return image.new_zeros((b, 3, h, w))
        if tuple(body_normals.shape) != (b, 6, h, w):
            raise ValueError(
                f"body normal maps must be {(b, 6, h, w)}, got {tuple(body_normals.shape)}"
            )
        return body_normals[:, 3 * side : 3 * side + 3].to(image.dtype)

    def encoder_input(self, image: torch.Tensor, normals: list[torch.Tensor]) -> torch.Tensor:
        """RGB and normal maps concatenated (B, 3 + 3k, H, W); normals resized bilinearly
        (align_corners=True) to the image when their size differs."""
        if not normals:
            return image
        maps = torch.cat(normals, dim=1)
        if maps.shape[-2:] != image.shape[-2:]:
            maps = F.interpolate(maps, size=image.shape[-2:], mode="bilinear", align_corners=True)
        return torch.cat([image, maps], dim=1)

    def depth_feature(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised depth fed to the MLP: z * (image_size // 2) / z_size."""
        return z * (self.config.image_size // 2) / self.config.z_size

    def query(
        self,
        features: torch.Tensor,
        points: torch.Tensor,
        calib: torch.Tensor,
        body: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Occupancy and Omega at points.

        features: (B, C, h, w) one stack's feature map; points: (B, 3, N) in the cube;
        calib: (B, 3|4, 4); body: (B, body_channels, N) the fitted body's features at the
        points (``pifuhd.geometry.body_field``) or None (zeros: no body). Returns occupancy
        (B, 1, N) in [0, 1] (0 outside the cube) and Omega (B, C_merge, N), the MLP's
        intermediate output (not masked).
        """
        logits, omega, inside = self.query_logits(features, points, calib, body)
        return torch.sigmoid(logits) * inside, omega

    def query_logits(
        self,
        features: torch.Tensor,
        points: torch.Tensor,
        calib: torch.Tensor,
        body: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-sigmoid occupancy for training: (logits (B, 1, N), Omega (B, C_merge, N),
        inside (B, 1, N) float, 1 where the projected point lies in the cube).

        ``query`` is ``sigmoid(logits) * inside``; the logits themselves are not masked.
        """
        xyz = orthographic(points, calib)
        local = sample_features(features, xyz[:, :2])
        inputs = [local, self.depth_feature(xyz[:, 2:3])]
        if self.config.body_channels:
            inputs.append(self.body_input(body, points))
        logits, omega = self.mlp.forward_logits(torch.cat(inputs, dim=1))
        return logits, omega, inside_cube(xyz, 3)

    def body_input(self, body: torch.Tensor | None, points: torch.Tensor) -> torch.Tensor:
        """The body features (B, body_channels, N) for points (B, 3, N): ``body`` checked, or
        zeros when there is no body (the model is trained with some items without one)."""
        b, _, n = points.shape
        shape = (b, self.config.body_channels, n)
        if body is None:
            return points.new_zeros(shape)
        if tuple(body.shape) != shape:
            raise ValueError(f"body features must be {shape}, got {tuple(body.shape)}")
        return body.to(points.dtype)
