"""One training phase's forward pass and losses: normal nets, coarse level, fine level,
colour net.

Batches are the collated items of :class:`pifuhd.data.dataset.OccupancyDataset` (shapes in
its docstring): ``image`` (B, 3, S, S), ``normal_front`` / ``normal_back`` (B, 3, S, S),
``points`` (B, 3, N) in the augmented cube, ``labels`` (B, 1, N); fine items add
``image_fine`` (B, 3, C, C), ``fine_calib`` (B, 4, 4) and ``crop`` (B, 2). Colour items
(:class:`pifuhd.data.color_dataset.ColorDataset`) carry ``color_points`` /
``color_targets`` (B, 3, N) and optionally ``patch_points`` / ``patch_targets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pifuhd.geometry.projection import default_calib
from pifuhd.models.color import ColorNet, to_srgb
from pifuhd.models.pifuhd import PIFuHD, crop_upsampled
from pifuhd.train.lab import lab_l1
from pifuhd.train.losses import normal_loss, stacked_occupancy_loss
from pifuhd.train.patch_ssim import patch_ssim_loss

Phase = Literal["normals", "coarse", "fine", "color"]
Batch = dict[str, torch.Tensor]
Losses = dict[str, torch.Tensor]

NORMAL_PARTS = ("netG.netF", "netG.netB")
COARSE_PARTS = ("netG.image_filter", "netG.mlp")
FINE_PARTS = ("image_filter", "mlp")


def trained_parts(stage: str, omega: str = "frozen") -> tuple[str, ...]:
    """Submodule names whose parameters a stage trains (the rest is frozen)."""
    joint = COARSE_PARTS if omega == "joint" else ()
    return {
        "normals": NORMAL_PARTS,
        "coarse": COARSE_PARTS,
        "fine": FINE_PARTS + joint,
        "all": COARSE_PARTS + FINE_PARTS,
        "color": (),  # the colour net is a separate module; the whole geometry is frozen
    }[stage]


def phase_parts(phase: Phase, omega: str = "frozen") -> tuple[str, ...]:
    """Submodule names that one phase updates (and runs in training mode)."""
    return trained_parts(phase, omega)


def ground_truth_normals(model: PIFuHD, batch: Batch) -> list[torch.Tensor]:
    """The batch's [front, back] normal maps (B, 3, S, S), those the model's encoders take."""
    net = model.netG
    wanted = [("normal_front", net.netF), ("normal_back", net.netB)]
    return [batch[key] for key, part in wanted if part is not None]


def encoder_normals(model: PIFuHD, batch: Batch, source: str) -> list[torch.Tensor]:
    """Normal maps fed to the encoders: ``gt`` from the batch, or ``predicted`` by the
    (frozen, no-gradient) normal nets from ``image``."""
    if source == "gt":
        return ground_truth_normals(model, batch)
    with torch.no_grad():
        return [
            n.detach()
            for n in model.netG.predict_normals(batch["image"], batch.get("body_normals"))
        ]


def normals_losses(
    model: PIFuHD,
    batch: Batch,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    l1_weight: float,
    perceptual_weight: float,
) -> Losses:
    """L_N summed over the front and back nets; keys loss, l1 (+ vgg)."""
    predicted = model.netG.predict_normals(batch["image"], batch.get("body_normals"))
    targets = ground_truth_normals(model, batch)
    if not predicted:
        raise ValueError("the model has no normal nets to train")
    total, l1, vgg = 0.0, 0.0, 0.0
    for pred, target in zip(predicted, targets, strict=True):
        loss, parts = normal_loss(pred, target, perceptual, l1_weight, perceptual_weight)
        total = total + loss
        l1 = l1 + parts["l1"]
        vgg = vgg + parts.get("vgg", 0.0)
    out: Losses = {"loss": total, "l1": torch.as_tensor(l1)}
    if perceptual is not None:
        out["vgg"] = torch.as_tensor(vgg)
    return out


def coarse_losses(
    model: PIFuHD, batch: Batch, normals: list[torch.Tensor], balance: bool = True
) -> Losses:
    """Weighted (``balance``) or plain BCE of the coarse level, averaged over the hourglass
    stacks; keys loss, coarse."""
    net = model.netG
    points, labels = batch["points"], batch["labels"]
    calib = default_calib(points.shape[0], points.device)
    stacks = net.image_filter(net.encoder_input(batch["image"], normals))
    body = batch.get("body")
    outputs = [net.query_logits(f, points, calib, body) for f in stacks]
    loss = stacked_occupancy_loss([o[0] for o in outputs], labels, [o[2] for o in outputs], balance)
    return {"loss": loss, "coarse": loss.detach()}


def fine_losses(
    model: PIFuHD,
    batch: Batch,
    normals: list[torch.Tensor],
    joint: bool = False,
    balance: bool = True,
) -> Losses:
    """Weighted (``balance``) or plain BCE of the fine level on crops, averaged over its
    stacks; keys loss, fine (+ coarse when ``joint``).

    Omega comes from the coarse level's last stack on the whole coarse image; frozen (no
    gradient) unless ``joint``, which also adds the coarse level's own loss. The fine encoder
    sees the crop and the normal maps upsampled to the fine image and cropped alike.
    """
    net = model.netG
    points, labels = batch["points"], batch["labels"]
    calib = default_calib(points.shape[0], points.device)
    with torch.set_grad_enabled(joint and torch.is_grad_enabled()):
        coarse_stacks = net.image_filter(
            net.encoder_input(batch["image"], normals), last_only=not joint
        )
        body = batch.get("body")
        coarse_out = [net.query_logits(f, points, calib, body) for f in coarse_stacks]
    omega = coarse_out[-1][1] if joint else coarse_out[-1][1].detach()
    crop = batch["image_fine"].shape[-1]
    full = model.config.fine.image_size
    normal_crops = [crop_upsampled(n, batch["crop"], crop, full) for n in normals]
    stacks = model.image_filter(net.encoder_input(batch["image_fine"], normal_crops))
    outputs = [model.fine_logits(f, omega, points, batch["fine_calib"]) for f in stacks]
    fine = stacked_occupancy_loss([o[0] for o in outputs], labels, [o[1] for o in outputs], balance)
    losses: Losses = {"loss": fine, "fine": fine.detach()}
    if joint:
        coarse = stacked_occupancy_loss(
            [o[0] for o in coarse_out], labels, [o[2] for o in coarse_out], balance
        )
        losses["loss"] = fine + coarse
        losses["coarse"] = coarse.detach()
    return losses


@dataclass(frozen=True)
class ColorLoss:
    """Settings of the colour loss: ``l1_weight * L1 + ssim_weight * (1 - patch SSIM)``."""

    l1_weight: float = 1.0
    """Weight of the mean absolute sRGB difference at the coloured points."""
    ssim_weight: float = 0.0
    """Weight of 1 - SSIM over the patches (needs ``patch_points`` in the batch)."""
    patch_size: int = 3
    """Grid points per patch axis, as the dataset's."""
    stats: str = "patch"
    """SSIM statistics within each patch (the paper) or ``across`` patches."""
    space: str = "srgb"
    """Space of the L1 term: ``srgb`` (PIFu) or ``lab`` (CIELAB / 100, ``pifuhd.train.lab``)."""


def color_losses(
    model: PIFuHD,
    color: ColorNet,
    batch: Batch,
    normals: list[torch.Tensor],
    settings: ColorLoss,
) -> Losses:
    """Colour loss with the geometry frozen; keys loss, l1 (+ ssim, the 1 - SSIM term).

    The geometry's coarse feature (last stack) is computed without gradient from the same
    image; predictions (tanh) map to sRGB by (c + 1) / 2 before the comparisons with the
    albedo targets in [0, 1]. L1 (in sRGB, or CIELAB / 100 with ``space`` "lab") is taken at
    ``color_points``, SSIM on ``patch_points``.
    """
    net = model.netG
    calib = default_calib(batch["image"].shape[0], batch["image"].device)
    with torch.no_grad():
        geometry = net.image_filter(net.encoder_input(batch["image"], normals), last_only=True)
        geometry = geometry[-1].detach()
    features = color.encode(batch["image"])
    code = None  # the light code of the colour points, for the patches too
    if color.config.light_code:
        code = color.light_code_of(features, batch["color_points"], calib)
    light = batch.get("harshness")  # the render's light (``ColorConfig.light_input``)
    points = batch["color_points"]
    photo = batch.get("photo")  # the sharp photo (``ColorConfig.sharp_residual``)
    pred = to_srgb(color.query(features, geometry, points, calib, code, light, photo)).float()
    if settings.space == "lab":
        l1 = lab_l1(pred, batch["color_targets"])
    else:
        l1 = (pred - batch["color_targets"]).abs().mean()
    losses: Losses = {"loss": settings.l1_weight * l1, "l1": l1.detach()}
    if settings.ssim_weight:
        if "patch_points" not in batch:
            raise ValueError("ssim_weight > 0 needs patches in the batch (color_patches > 0)")
        patch = color.query(features, geometry, batch["patch_points"], calib, code, light, photo)
        patch = to_srgb(patch).float()
        ssim = patch_ssim_loss(
            patch, batch["patch_targets"], size=settings.patch_size, stats=settings.stats
        )
        losses["loss"] = losses["loss"] + settings.ssim_weight * ssim
        losses["ssim"] = ssim.detach()
    return losses


class StageModule(nn.Module):
    """The model plus the loss settings: ``forward(batch, phase)`` returns the phase's
    losses. This is the module that DistributedDataParallel wraps."""

    def __init__(
        self,
        model: PIFuHD,
        normals_input: str = "gt",
        omega: str = "frozen",
        perceptual: nn.Module | None = None,
        normal_l1_weight: float = 5.0,
        perceptual_weight: float = 1.0,
        color: ColorNet | None = None,
        color_loss: ColorLoss | None = None,
        class_balance: bool = True,
    ) -> None:
        super().__init__()
        self.class_balance = class_balance
        self.model = model
        self.color = color
        self.color_loss = color_loss or ColorLoss()
        self.perceptual = perceptual
        self.normals_input = normals_input
        self.omega = omega
        self.normal_l1_weight = normal_l1_weight
        self.perceptual_weight = perceptual_weight

    def forward(self, batch: Batch, phase: Phase) -> Losses:
        if phase == "normals":
            return normals_losses(
                self.model, batch, self.perceptual, self.normal_l1_weight, self.perceptual_weight
            )
        normals = encoder_normals(self.model, batch, self.normals_input)
        if phase == "coarse":
            return coarse_losses(self.model, batch, normals, self.class_balance)
        if phase == "fine":
            return fine_losses(
                self.model, batch, normals, self.omega == "joint", self.class_balance
            )
        if phase == "color" and self.color is not None:
            return color_losses(self.model, self.color, batch, normals, self.color_loss)
        raise ValueError(f"unknown phase {phase!r}")


def set_phase_mode(
    model: PIFuHD, phase: Phase, omega: str = "frozen", color: ColorNet | None = None
) -> None:
    """Training mode for the parts the phase updates (the colour net in the colour phase),
    evaluation mode for the rest."""
    model.eval()
    if color is not None:
        color.train(phase == "color")
    for name in phase_parts(phase, omega):
        part = _submodule(model, name)
        if part is not None:
            part.train()


def _submodule(model: nn.Module, name: str) -> nn.Module | None:
    """The submodule called ``name``, or None when the model has none (e.g. no netB)."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None
