"""Colour evaluation of a :class:`pifuhd.inference.Reconstructor`: what colours a surface of
one photo (``pifuhd.surface_colors.PhotoEvidence``: the fine crop, its person mask's edge
filled from within, and the colour net at vertices)."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from pifuhd.checkpoint.color import missing_color_message
from pifuhd.errors import CheckpointError
from pifuhd.io.crops import CropRect, crop_image
from pifuhd.models.color import ColorNet, net_vertex_colors
from pifuhd.models.pifuhd import PIFuHDFeatures
from pifuhd.surface_colors import PhotoEvidence, person_image


class ColorEvaluation:
    """Methods of ``Reconstructor`` that colour its surfaces; they read its ``model``,
    ``settings``, ``color``, ``chunk`` and ``checkpoint_info``."""

    def photo_evidence(
        self,
        features: PIFuHDFeatures,
        color_features: torch.Tensor | None,
        fine: torch.Tensor,
        mask: np.ndarray | None = None,
    ) -> PhotoEvidence:
        """What colours any cube-frame surface of this photo: the fine crop (1, 3, 2S, 2S) in
        [-1, 1] as sRGB in [0, 1], its pixels beyond the person ``mask`` ((2S, 2S) bool, when
        known) from within it (``pifuhd.surface_colors.person_image``), and the colour net at
        vertices (when there is one)."""
        image = (fine[0].permute(1, 2, 0).float().cpu().numpy() + 1.0) / 2.0
        image = np.clip(image, 0.0, 1.0)
        if mask is not None:
            image = person_image(image, mask)
        net = None
        if color_features is not None:
            photo = None
            if self.color is not None and self.color.config.sharp_residual:
                photo = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
                photo = (photo[None] * 2.0 - 1.0).to(fine.device)
            net = partial(self.vertex_colors, features, color_features, photo=photo)
        aware = self.color is not None and self.color.config.light_input
        return PhotoEvidence(image=image, net=net, light_aware=aware)

    def fine_mask(self, mask: np.ndarray | None, crop: CropRect) -> np.ndarray | None:
        """The (H, W) bool person mask of the photo cut and resized like the fine image:
        (2S, 2S) bool, or None without a mask."""
        if mask is None:
            return None
        size = self.model.config.fine.image_size
        resized = crop_image(mask.astype(np.float32), crop, size, self.settings.resize)
        return resized > 0.5

    @torch.inference_mode()
    def color_features(self, coarse: torch.Tensor) -> torch.Tensor:
        """The colour net's image features of the coarse image (1, 3, S, S)."""
        if self.color is None:
            raise CheckpointError(missing_color_message(self.checkpoint_info.get("path", "")))
        return self.color.encode(coarse)

    @torch.inference_mode()
    def vertex_colors(
        self,
        features: PIFuHDFeatures,
        color_features: torch.Tensor,
        vertices: np.ndarray,
        light: float | None = None,
        color: ColorNet | None = None,
        photo: torch.Tensor | None = None,
    ) -> np.ndarray:
        """(V, 3) float32 sRGB albedo in [0, 1] of the colour net (``color``, default this
        reconstructor's) at ``vertices`` (V, 3) in the cube, ``chunk`` points per call;
        ``color_features`` from that net's ``encode``; ``light``: the photo's harshness for a
        net that takes it (``ColorConfig.light_input``; None: harsh); ``photo``: (1, 3, H, W)
        in [-1, 1], the sharp photo a ``sharp_residual`` net corrects (``photo_evidence``'s
        filled fine crop)."""
        color = self.color if color is None else color
        if color is None:
            raise CheckpointError(missing_color_message(self.checkpoint_info.get("path", "")))
        return net_vertex_colors(
            color, color_features, features.coarse, vertices, self.chunk, light, photo
        )
