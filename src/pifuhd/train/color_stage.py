"""The colour stage (``pifuhd train color``): the colour net, its data and its validation.

The geometry comes from ``--init`` (a trained native checkpoint, a run folder or a
pifuhd.pt) and stays frozen: no gradient, evaluation mode. The colour net starts fresh
(seeded, ``color_width`` / ``color_blocks``) or, when the init checkpoint already has a
``color/`` folder, from those weights (fine-tuning, e.g. with the SSIM term or other lights).
Checkpoints hold both: the geometry as before and the colour net in ``color/``
(``pifuhd.checkpoint.color``), so ``pifuhd reconstruct -c CHECKPOINT --texture`` reads them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from pifuhd.checkpoint.color import has_color, load_color_weights, read_color_config
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.color_dataset import ColorDataset, ColorSampling
from pifuhd.eval.color_metrics import ciede2000, srgb_to_lab
from pifuhd.geometry.projection import default_calib
from pifuhd.models.color import ColorConfig, ColorNet, to_srgb
from pifuhd.models.color_widen import (
    with_image_skip,
    with_light_code,
    with_light_input,
    with_sharp_residual,
)
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.train.config import ConfigError, TrainConfig
from pifuhd.train.levels import ColorLoss, encoder_normals
from pifuhd.train.state import resolve_weights

log = logging.getLogger(__name__)


def require_geometry(config: TrainConfig, resume_from: Path | None) -> None:
    """A colour run starts from a trained geometry (``init``) or resumes a checkpoint."""
    if config.stage == "color" and not config.init and resume_from is None:
        raise ConfigError(
            "the colour stage needs a trained geometry: pass --init CHECKPOINT (a native "
            "checkpoint folder, a run folder or a pifuhd.pt)"
        )


def build_color_net(config: TrainConfig, geometry: PIFuHD, resume_from: Path | None) -> ColorNet:
    """The run's colour net: the resumed checkpoint's, the init checkpoint's, or a fresh one
    (seeded by ``config.seed``) matching ``geometry``'s coarse level."""
    require_geometry(config, resume_from)
    source = resume_from
    if source is None:
        weights = resolve_weights(config.init)
        source = weights if weights.is_dir() and has_color(weights) else None
    if source is not None:
        color_config, _ = read_color_config(source)
        net = ColorNet(color_config)
        load_color_weights(net, source)
        log.info("colour net from %s", source)
        net = widen_color_net(net, config, resumed=resume_from is not None)
    else:
        torch.manual_seed(config.seed)
        color_config = ColorConfig.for_geometry(
            geometry.config,
            base_channels=config.color_width,
            num_blocks=config.color_blocks,
            image_skip=wants_skip(config),
            residual=config.color_residual or config.color_sharp_residual,
            sharp_residual=config.color_sharp_residual,
            light_code=config.color_light_code,
            light_input=config.color_light_input,
        )
        net = ColorNet(color_config)
    expected = geometry.config.coarse.encoder.out_channels
    if net.config.geometry_channels != expected:
        raise ConfigError(
            f"the colour net takes {net.config.geometry_channels} geometry channels but the "
            f"geometry's coarse encoder gives {expected}; init from a matching checkpoint"
        )
    if net.config.sharp_residual and not config.color_sharp_residual:
        raise ConfigError(
            "this colour net corrects the sharp photo's colours; pass --set "
            "color_sharp_residual=true to train it"
        )
    return net


def wants_skip(config: TrainConfig) -> bool:
    """Whether ``config`` asks for the image skip (itself or through what needs it)."""
    return (
        config.color_image_skip
        or config.color_residual
        or config.color_light_code
        or config.color_sharp_residual
    )


def widen_color_net(net: ColorNet, config: TrainConfig, resumed: bool) -> ColorNet:
    """``net`` with the image skip / residual output / light code that ``config`` asks for
    and it lacks, added with zero weights (``pifuhd.models.color``); refused on resume."""
    missing_skip = wants_skip(config) and not net.config.image_skip
    missing_code = config.color_light_code and not net.config.light_code
    missing_light = config.color_light_input and not net.config.light_input
    missing_sharp = config.color_sharp_residual and not net.config.sharp_residual
    if (missing_skip or missing_code or missing_light or missing_sharp) and resumed:
        raise ConfigError(
            "color_image_skip / color_residual / color_light_code / color_light_input / "
            "color_sharp_residual cannot be switched on when resuming a run without them; "
            "start a new run with --init"
        )
    residual = config.color_residual or config.color_sharp_residual
    if missing_skip:
        net = with_image_skip(net, residual=residual)
        log.info("colour net widened for the image skip (residual: %s)", residual)
    if missing_code:
        net = with_light_code(net)
        log.info("colour net widened for the light code")
    if missing_light:
        net = with_light_input(net)
        log.info("colour net widened for the light's harshness")
    if missing_sharp:
        if not net.config.residual:
            raise ConfigError(
                "color_sharp_residual needs a residual colour net; also pass --set "
                "color_residual=true when the init's net is not residual"
            )
        net = with_sharp_residual(net)
        log.info("colour net now corrects the sharp photo's colours")
    return net


def color_parameters(geometry: PIFuHD, color: ColorNet) -> list[torch.nn.Parameter]:
    """Freeze the whole geometry; return the colour net's parameters (all trained)."""
    geometry.requires_grad_(False)
    color.requires_grad_(True)
    return list(color.parameters())


def color_loss_settings(config: TrainConfig) -> ColorLoss:
    return ColorLoss(
        l1_weight=config.color_l1_weight,
        ssim_weight=config.color_ssim_weight,
        patch_size=config.color_patch_size,
        stats=config.color_ssim_stats,
        space=config.color_l1_space,
    )


def color_dataset(
    config: TrainConfig, model: PIFuHD, subjects: list[str], augment: AugmentConfig
) -> ColorDataset:
    """Training items: augmented, one light of ``color_lights`` per item, patches when the
    SSIM term is on."""
    sampling = ColorSampling(
        count=config.num_points,
        offset_cm=config.color_offset_cm,
        patches=config.color_patches if config.color_ssim_weight else 0,
        patch_size=config.color_patch_size,
        patch_spacing_cm=config.color_patch_spacing_cm,
    )
    return ColorDataset(
        Path(config.data),
        subjects,
        sampling=sampling,
        lights=config.color_lights,
        augment=augment,
        image_size=model.config.coarse.image_size,
        seed=config.seed,
        photo=config.color_sharp_residual,
    )


def color_validation_dataset(
    config: TrainConfig, model: PIFuHD, subjects: list[str]
) -> ColorDataset:
    """Held-out items without augmentation, points on the surface, ``val_points`` each; the
    lights of ``color_lights`` as in training (drawn per item with a fixed seed)."""
    return ColorDataset(
        Path(config.data),
        subjects,
        sampling=ColorSampling(count=max(config.val_points, 1), offset_cm=0.0),
        lights=config.color_lights,
        augment=AugmentConfig.none(),
        image_size=model.config.coarse.image_size,
        seed=config.seed,
        photo=config.color_sharp_residual,
    )


@torch.no_grad()
def validate_color(
    model: PIFuHD,
    color: ColorNet,
    dataset: ColorDataset,
    indices: list[int],
    normals_input: str,
    device: torch.device,
) -> dict[str, float]:
    """``color_l1`` (mean |predicted - albedo| in sRGB [0, 1]) and ``color_delta_e`` (mean
    CIEDE2000) at the surface points of the items ``indices``."""
    model.eval()
    color.eval()
    l1_sum, delta_sum, count = 0.0, 0.0, 0
    for index in indices:
        item = default_collate([dataset[index]])
        batch = {k: v.to(device) for k, v in item.items() if torch.is_tensor(v)}
        normals = encoder_normals(model, batch, normals_input)
        net = model.netG
        geometry = net.image_filter(net.encoder_input(batch["image"], normals), last_only=True)
        calib = default_calib(1, device)
        features = color.encode(batch["image"])
        light = batch.get("harshness")
        photo = batch.get("photo")
        points = batch["color_points"]
        pred = color.query(features, geometry[-1], points, calib, None, light, photo)
        pred = to_srgb(pred).float()[0].T.cpu().numpy()
        target = batch["color_targets"][0].T.cpu().numpy()
        l1_sum += float(np.abs(pred - target).sum())
        delta_sum += float(ciede2000(srgb_to_lab(pred), srgb_to_lab(target)).sum())
        count += len(pred)
    count = max(count, 1)
    return {"color_l1": l1_sum / (3 * count), "color_delta_e": delta_sum / count}
