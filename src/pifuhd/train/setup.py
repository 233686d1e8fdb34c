"""Setting up a run: device, seeds, the model, the subject split and the datasets."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.native import is_native, read_inference_dict, read_native_config
from pifuhd.config import preset
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.dataset import (
    OccupancyDataset,
    PointConfig,
    coarse_points,
    fine_points,
    list_subjects,
    split_subjects,
)
from pifuhd.errors import PifuhdError
from pifuhd.models.color import ColorNet
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.train.color_stage import build_color_net, color_dataset, require_geometry
from pifuhd.train.config import ConfigError, TrainConfig
from pifuhd.train.distributed import DistInfo
from pifuhd.train.state import load_weights_into, resolve_weights
from pifuhd.train.vgg import PerceptualLoss, load_perceptual_loss

log = logging.getLogger(__name__)


class TrainingError(PifuhdError):
    """A run cannot start or continue (bad data folder, existing run, diverged loss)."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def training_device(name: str, info: DistInfo) -> torch.device:
    """'auto', 'cpu', 'cuda' or 'cuda:N'; under torchrun on CUDA, cuda:LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name}: CUDA is not available here; use --device cpu")
        device = torch.device("cuda", info.local_rank) if info.enabled else torch.device(name)
        torch.cuda.set_device(device)
        return device
    return torch.device(name)


def build_model(config: TrainConfig) -> PIFuHD:
    """A fresh model of ``config.preset`` (seeded), or the weights of ``config.init``."""
    if config.init:
        model, _ = load_checkpoint(resolve_weights(config.init), "cpu")
        return model
    torch.manual_seed(config.seed)
    return PIFuHD(preset(config.preset))


def run_inference_settings(config: TrainConfig, resume_from: Path | None) -> dict | None:
    """The pipeline settings the run's checkpoints record (``pifuhd.inference_settings``):
    the resumed checkpoint's, else a native init's (fine-tuning the bundled model keeps its
    guards), else none (a fresh model, or an official file: ``NATIVE_SETTINGS`` apply)."""
    if resume_from is not None:
        return read_inference_dict(resume_from)
    if config.init:
        source = resolve_weights(config.init)
        return read_inference_dict(source) if is_native(source) else None
    return None


CARRIED_METADATA = ("fine_logit_shift",)
"""Checkpoint metadata a run keeps from its init (or resumed checkpoint): facts about weights
that training starts from, such as a fine logit shift baked into the fine MLP's last bias
(``tools/shift_fine_logit.py``)."""


def run_carried_metadata(config: TrainConfig, resume_from: Path | None) -> dict[str, Any]:
    """The ``CARRIED_METADATA`` entries of the resumed checkpoint, else of a native init;
    empty for a fresh model or an official file."""
    source = resume_from
    if source is None and config.init:
        native = resolve_weights(config.init)
        source = native if is_native(native) else None
    if source is None:
        return {}
    metadata = read_native_config(source)[1]
    carried = {key: metadata[key] for key in CARRIED_METADATA if key in metadata}
    shift = float(carried.get("fine_logit_shift", 0.0))
    if config.stage == "fine" and shift and resume_from is None:
        log.warning(
            "the init's fine MLP carries a logit shift of %+g in its last bias; training moves "
            "it, so the recorded shift becomes approximate: take it out first "
            "(tools/shift_fine_logit.py INIT OUT %+g) and put it back after",
            shift, -shift,
        )  # fmt: skip
    return carried


def build_run_models(
    config: TrainConfig, resume_from: Path | None
) -> tuple[PIFuHD, ColorNet | None]:
    """The run's geometry and, for the colour stage, colour net: from the checkpoint being
    resumed (its own architecture: the init path may be gone by now), else fresh / init."""
    require_geometry(config, resume_from)
    if resume_from is None:
        model = build_model(config)
    else:
        model = PIFuHD(read_native_config(resume_from)[0])
        load_weights_into(model, resume_from)
    color = build_color_net(config, model, resume_from) if config.stage == "color" else None
    return model, color


def crop_size(config: TrainConfig, model: PIFuHD) -> int:
    """Fine training crop side: ``config.crop_size`` or half the fine image; checked."""
    full = model.config.fine.image_size
    crop = config.crop_size or full // 2
    enc = model.config.fine.encoder
    multiple = enc.stride * 2**enc.depth
    if crop > full or crop % multiple:
        raise ConfigError(
            f"crop_size {crop}: must be at most the fine image ({full}) and a multiple of "
            f"{multiple} (the fine encoder's stride x 2^depth)"
        )
    return crop


def split_run_subjects(config: TrainConfig) -> tuple[list[str], list[str]]:
    """(train, validation) subject names of the data folder."""
    names = list_subjects(Path(config.data))
    if config.val_subjects:
        unknown = sorted(set(config.val_subjects) - set(names))
        if unknown:
            raise ConfigError(f"val_subjects {unknown} are not complete subjects of {config.data}")
        val = [n for n in names if n in set(config.val_subjects)]
        train = [n for n in names if n not in set(val)]
    else:
        train, val = split_subjects(names, config.val_fraction, seed=config.seed)
    if not train:
        raise TrainingError(f"{config.data}: no training subjects left after the split")
    return train, val


def training_datasets(
    config: TrainConfig, model: PIFuHD, subjects: list[str]
) -> dict[str, OccupancyDataset]:
    """The datasets the stage's phases read: "coarse" (normals and coarse) and/or "fine", or
    "color"."""
    augment = (
        AugmentConfig(background=config.background) if config.augment else AugmentConfig.none()
    )
    common: dict[str, Any] = {
        "augment": augment,
        "image_size": model.config.coarse.image_size,
        "seed": config.seed,
    }
    if model.config.coarse.body_channels or model.netG.body_normals:
        common |= {"bodies": config.bodies, "body_dropout": config.body_dropout}
    if model.netG.body_normals and config.stage == "color":
        if config.normals_input != "gt":  # the colour items carry no body normal maps
            raise TrainingError(
                "this model's normal nets read the body's normal maps, which the colour "
                "stage's items do not carry: train the colour net with --set normals_input=gt"
            )
    elif model.netG.body_normals:
        if config.bodies == "none":
            raise TrainingError(
                "this model's normal nets read the body's normal maps: train with "
                "--set bodies=fit (or true)"
            )
        common["body_normals"] = True
    root = Path(config.data)
    out: dict[str, OccupancyDataset] = {}
    if config.stage == "color":
        out["color"] = color_dataset(config, model, subjects, augment)
    if config.stage in ("normals", "coarse", "all"):
        points = _with_count(coarse_points(), config.num_points, config.ray_fraction)
        out["coarse"] = OccupancyDataset(root, subjects, level="coarse", points=points, **common)
    if config.stage in ("fine", "all"):
        points = _with_count(fine_points(), config.num_points, config.ray_fraction)
        out["fine"] = OccupancyDataset(
            root,
            subjects,
            level="fine",
            points=points,
            crop_size=crop_size(config, model),
            fine_size=model.config.fine.image_size,
            **common,
        )
    return out


def _with_count(points: PointConfig, count: int, ray_fraction: float = 0.0) -> PointConfig:
    return PointConfig(
        count, points.surface_kinds, points.uniform_fraction, points.balance, ray_fraction
    )


def perceptual_loss(config: TrainConfig) -> PerceptualLoss | None:
    """The VGG19 perceptual loss of the normals stage, or None (other stages; no weights)."""
    if config.stage != "normals":
        return None
    if not config.vgg_weights:
        log.warning("perceptual loss off: no --vgg-weights given; training normals with L1 only")
        return None
    return load_perceptual_loss(config.vgg_weights)
