"""Training configuration: one frozen dataclass, JSON / TOML files, ``--set key=value``.

Precedence (lowest first): the stage's defaults (``TrainConfig.for_stage``), a config file
(``--config run.json`` or ``run.toml``), ``--set`` overrides, then the common flags
(``--data``, ``--out``, ``--steps`` ...). Unknown keys are an error everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pifuhd.errors import PifuhdError

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

TRAIN_FORMAT_VERSION = 1

Stage = Literal["normals", "coarse", "fine", "all", "color"]
STAGES: tuple[str, ...] = typing.get_args(Stage)


class ConfigError(PifuhdError):
    """A training configuration file or override cannot be used."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run does (written to ``RUN/train_config.json``)."""

    stage: Stage = "coarse"
    """What to train: normals (front/back nets), coarse, fine, all (alternating), or color."""
    data: str = ""
    """Folder written by ``pifuhd prepare`` (``docs/data_format.md``)."""
    out: str = ""
    """Run folder: checkpoints/, metrics.jsonl, val/, train_config.json, TensorBoard events."""
    preset: Literal["small", "official", "body"] = "small"
    """Architecture of a fresh model (ignored with ``init``)."""
    init: str = ""
    """Start from these weights: a native checkpoint folder, a pifuhd.pt, or a run folder."""
    seed: int = 0
    """Seeds the model initialisation, the data order and every augmentation draw."""
    steps: int = 10_000
    """Total optimiser steps of the run (a resumed run continues up to this count)."""
    batch_size: int = 4
    """Items per step on each process (the paper: 8)."""
    num_points: int = 8000
    """Labelled points per item (the paper: 8000)."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """RMSProp (the paper's occupancy training) or Adam (the paper's normal nets)."""
    lr: float = 1e-3
    """Initial learning rate."""
    lr_decay_every: int = 0
    """Multiply the learning rate by ``lr_decay_gamma`` every this many units; 0 = constant."""
    lr_decay_unit: Literal["step", "epoch"] = "epoch"
    """Unit of ``lr_decay_every`` (the paper: x0.1 every 10 epochs)."""
    lr_decay_gamma: float = 0.1
    """Factor of each learning-rate decay."""
    warmup_steps: int = 0
    """Raise the learning rate linearly from lr / warmup_steps to lr over the run's first this
    many steps; 0 = none. For fine-tuning with a fresh optimiser: RMSProp's first steps move
    every weight by about 10x lr (docs/training.md, "Fine-tuning and the first steps")."""
    grad_clip: float = 0.0
    """Clip the global gradient norm to this value; 0 = no clipping."""
    amp: Literal["none", "bf16", "fp16"] = "none"
    """Mixed precision: bf16 autocast (CPU or GPU) or fp16 autocast + GradScaler (GPU only)."""
    normals_input: Literal["gt", "predicted"] = "gt"
    """Normal maps fed to the encoders: ground truth, or the (frozen) normal nets' output."""
    ray_fraction: float = 0.0
    """Share of the uniform points drawn on the camera rays through the person (their pixel on
    the mask): depth labels far in front of and behind thin parts (``PointConfig``)."""
    class_balance: bool = True
    """Occupancy BCE weighted by the outside ratio (the paper); false = plain BCE. Weighting
    puts the 0.5 surface where P(inside) equals the share of inside points (docs/training.md)."""
    bodies: Literal["none", "true", "fit"] = "none"
    """Body features of a body-guided model (preset ``body``): the true body of each view, or
    the one fitted to its render (the true one where the fit found nobody); data format 3."""
    body_dropout: float = 0.05
    """Share of items whose body features are zeros ("no body"), as inference gives when the
    fit fails."""
    mlp_only: bool = False
    """Train only the MLPs of the stage's parts (encoders frozen): fine-tuning a trained model
    for new per-point inputs such as the body features, at about half the cost of a step."""
    omega: Literal["frozen", "joint"] = "frozen"
    """Fine stage: the coarse level is frozen, or trained jointly (fine + coarse loss)."""
    phase_steps: int = 1000
    """Stage all: steps of each coarse / fine phase, alternating, starting with coarse."""
    crop_size: int = 0
    """Fine training crop side in fine-image pixels; 0 = half the fine image (paper: 512)."""
    normal_l1_weight: float = 5.0
    """Weight of the L1 term of the normal loss (the paper: L_VGG + 5 L1)."""
    vgg_weight: float = 1.0
    """Weight of the perceptual (VGG19) term of the normal loss."""
    vgg_weights: str = ""
    """Local ImageNet VGG19 weights (torchvision keys features.N.*); empty = L1 only."""
    color_width: int = 16
    """Colour stage, fresh net: encoder base channels (features: 4x this at 128^2)."""
    color_blocks: int = 6
    """Colour stage, fresh net: residual blocks of the encoder (PIFu: 6)."""
    color_image_skip: bool = False
    """Colour stage: the MLP also sees the photo's colour at the point (``ColorConfig.
    image_skip``). A net from ``init`` without it is widened with zero weights first, so it
    starts out computing what it did."""
    color_residual: bool = False
    """Colour stage: the net predicts a correction to the photo's colour at the point
    (``ColorConfig.residual``; implies the image skip). A net from ``init`` without it keeps
    its weights but a zeroed last layer, so it starts out as the photo's colour."""
    color_light_code: bool = False
    """Colour stage: the MLP also gets a code of the photo's light (``ColorConfig.
    light_code``; implies the image skip). Added to a net from ``init`` with zero weights."""
    color_light_input: bool = False
    """Colour stage: the MLP also gets the photo's light harshness (``ColorConfig.
    light_input``; from the render's preset in training). Added to a net from ``init`` with
    a zero weight."""
    color_sharp_residual: bool = False
    """Colour stage: a residual net corrects the photo's colour at the point's own pixel
    (``ColorConfig.sharp_residual``; implies the residual output), not the 4 x 4 block mean.
    A residual net from ``init`` keeps its weights."""
    color_lights: tuple[str, ...] = ()
    """Colour stage: renders drawn per item (rgb, rgb_wild, ...); empty = all in the data."""
    color_offset_cm: float = 1.0
    """Colour stage: std of the colour samples' offset along the normal, cm."""
    color_l1_weight: float = 1.0
    """Colour stage: weight of the L1 term (sRGB, at num_points coloured points)."""
    color_l1_space: Literal["srgb", "lab"] = "srgb"
    """Colour stage: space of the L1 term, sRGB (PIFu) or CIELAB / 100 (closer to the
    CIEDE2000 scores; ``pifuhd.train.lab``)."""
    color_ssim_weight: float = 0.0
    """Colour stage: weight of the 3D patch-wise 1 - SSIM term; 0 = L1 only."""
    color_patches: int = 256
    """Colour stage: patch centres per item for the SSIM term."""
    color_patch_size: int = 3
    """Colour stage: grid points per patch axis (odd; the paper: 3)."""
    color_patch_spacing_cm: float = 1.0
    """Colour stage: distance between neighbouring patch points, cm."""
    color_ssim_stats: Literal["patch", "across"] = "patch"
    """Colour stage: SSIM statistics within each patch (paper) or across patches (its code)."""
    augment: bool = True
    """Random flip, scale, shift, colour jitter and backgrounds (off: grey, no jitter)."""
    background: str = "procedural"
    """Backgrounds: procedural (flat patterns and photo-like rooms, outdoor views, clutter and
    people cut by the border; ``pifuhd.data.backgrounds``), grey, or a folder of images."""
    val_fraction: float = 0.1
    """Share of the subjects held out for validation (``split_subjects``)."""
    val_subjects: tuple[str, ...] = ()
    """Explicit held-out subjects; overrides ``val_fraction`` when not empty."""
    val_every: int = 1000
    """Validate every this many steps (and at the end); 0 = never."""
    val_items: int = 8
    """Held-out (subject, view) items per validation."""
    val_points: int = 8000
    """Labelled points per validation item (no augmentation; 5 and 3 cm samples, 1/4 uniform)."""
    val_resolution: int = 64
    """Grid resolution of the validation mesh; 0 = no mesh."""
    log_every: int = 10
    """Console line and metrics.jsonl record every this many steps."""
    checkpoint_every: int = 1000
    """Checkpoint every this many steps (and always at the end of a run)."""
    keep_checkpoints: int = 3
    """Checkpoints kept (older ones are deleted; 0 = keep all)."""
    workers: int = 2
    """Data-loading worker processes per training process (0 = load in the main process)."""
    threads: int = 0
    """CPU threads per process (``torch.set_num_threads``); 0 = PyTorch's default."""
    device: str = "auto"
    """auto, cpu, cuda or cuda:N (under torchrun each process takes cuda:LOCAL_RANK)."""
    tensorboard: bool = True
    """Write TensorBoard events when the tensorboard package is installed."""
    check_sync: bool = False
    """Multi-process: compare a weight hash across ranks at each checkpoint (debugging)."""
    format_version: int = TRAIN_FORMAT_VERSION
    """Version of this format; files with a newer version are refused."""

    def __post_init__(self) -> None:
        _check_choices(self)
        object.__setattr__(self, "val_subjects", tuple(str(s) for s in self.val_subjects))
        object.__setattr__(self, "color_lights", tuple(str(s) for s in self.color_lights))
        for name in (
            "steps",
            "batch_size",
            "num_points",
            "phase_steps",
            "val_items",
            "color_width",
            "color_patch_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in (
            "lr_decay_every",
            "warmup_steps",
            "crop_size",
            "val_every",
            "val_resolution",
            "checkpoint_every",
            "keep_checkpoints",
            "workers",
            "threads",
            "grad_clip",
            "val_points",
            "color_blocks",
            "color_offset_cm",
            "color_l1_weight",
            "color_ssim_weight",
            "color_patches",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.body_dropout <= 1.0:
            raise ConfigError(f"body_dropout must be in [0, 1], got {self.body_dropout}")
        if not 0.0 <= self.ray_fraction <= 1.0:
            raise ConfigError(f"ray_fraction must be in [0, 1], got {self.ray_fraction}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.log_every < 1:
            raise ConfigError(f"log_every must be at least 1, got {self.log_every}")
        if self.color_patch_size % 2 != 1:
            raise ConfigError(f"color_patch_size must be odd, got {self.color_patch_size}")
        if self.color_patch_spacing_cm <= 0:
            raise ConfigError("color_patch_spacing_cm must be positive")

    @classmethod
    def for_stage(cls, stage: str, **changes: Any) -> TrainConfig:
        """Defaults for a stage: the normal nets use Adam at 2e-4 (paper), the occupancy
        levels RMSProp at 1e-3."""
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        base: dict[str, Any] = {"stage": stage}
        if stage == "normals":
            base.update(optimizer="adam", lr=2e-4)
        base.update(changes)
        return cls.from_dict(base)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with fields changed (validated like ``from_dict``)."""
        return self.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["val_subjects"] = list(self.val_subjects)
        data["color_lights"] = list(self.color_lights)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys, wrong types and newer versions are errors."""
        if not isinstance(data, dict):
            raise ConfigError(f"training config must be an object, got {type(data).__name__}")
        version = data.get("format_version", TRAIN_FORMAT_VERSION)
        if not isinstance(version, int) or version > TRAIN_FORMAT_VERSION:
            raise ConfigError(
                f"training config format_version {version!r} is newer than this pifuhd "
                f"supports ({TRAIN_FORMAT_VERSION}); upgrade pifuhd"
            )
        hints = field_types()
        unknown = sorted(set(data) - set(hints))
        if unknown:
            raise ConfigError(f"unknown training config keys {unknown}; see docs/training.md")
        kwargs = {k: _check_type(k, v, hints[k]) for k, v in data.items()}
        kwargs["format_version"] = TRAIN_FORMAT_VERSION
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"training config is not valid JSON ({exc})") from None
        return cls.from_dict(data)


def field_types() -> dict[str, Any]:
    """{field name: resolved type annotation} of ``TrainConfig``."""
    return typing.get_type_hints(TrainConfig)


def _check_choices(config: TrainConfig) -> None:
    for name, kind in field_types().items():
        if typing.get_origin(kind) is Literal and getattr(config, name) not in typing.get_args(
            kind
        ):
            choices = ", ".join(typing.get_args(kind))
            raise ConfigError(f"{name} must be one of {choices}, got {getattr(config, name)!r}")


def _check_type(name: str, value: Any, kind: Any) -> Any:
    """Value of a config file entry, checked against the field's type (ints pass as floats)."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        expected: tuple[type, ...] = (str,)
    elif origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of strings, got {value!r}")
        return tuple(value)
    elif kind is float:
        expected = (int, float)
    else:
        expected = (kind,)
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{name} must be {kind.__name__}, got {value!r}")
    if not isinstance(value, expected):
        label = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{name} must be {label}, got {value!r}")
    return float(value) if kind is float else value


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` -> (key, value typed by the field): ints, floats, booleans
    (true/false/1/0/yes/no/on/off), strings, and comma-separated lists."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigError(f"--set {text!r}: expected key=value")
    hints = field_types()
    if key not in hints or key == "format_version":
        raise ConfigError(f"--set {key}: unknown training config key; see docs/training.md")
    kind = hints[key]
    raw = raw.strip()
    try:
        if kind is bool:
            return key, _parse_bool(raw)
        if kind is int:
            return key, int(raw)
        if kind is float:
            return key, float(raw)
    except ValueError:
        raise ConfigError(f"--set {key}={raw}: not a valid {kind.__name__}") from None
    if typing.get_origin(kind) is tuple:
        return key, tuple(s.strip() for s in raw.split(",") if s.strip())
    return key, raw


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Entries of a ``.json`` or ``.toml`` training config file (not yet validated)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".toml":
            if tomllib is None:
                raise ConfigError(f"{path}: TOML configs need Python 3.11+; use a JSON file")
            return tomllib.loads(text)
        data = json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:  # TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper()} ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config file must hold an object of settings")
    return data


def build_config(
    stage: str,
    file: str | os.PathLike | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    flags: dict[str, Any] | None = None,
    base: TrainConfig | None = None,
) -> TrainConfig:
    """Stage defaults (or ``base``, a resumed run's config) <- config file <- ``--set``
    overrides <- common flags (None = unset)."""
    if base is not None and base.stage != stage:
        raise ConfigError(f"the run was trained with stage {base.stage}, not {stage}")
    data: dict[str, Any] = {} if base is None else base.to_dict()
    data.pop("stage", None)
    if file is not None:
        data.update(read_config_file(file))
        if data.get("stage", stage) != stage:
            raise ConfigError(
                f"{file}: stage {data['stage']!r} differs from the command's stage {stage!r}"
            )
        data.pop("stage", None)
    data.update(parse_override(o) for o in overrides)
    data.update({k: v for k, v in (flags or {}).items() if v is not None})
    return TrainConfig.for_stage(stage, **data)
