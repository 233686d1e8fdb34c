"""The colour network's place in a native checkpoint: an optional ``color/`` sub-folder.

::

    CHECKPOINT/config.json            the geometry (PIFuHD), unchanged
    CHECKPOINT/model.safetensors
    CHECKPOINT/color/config.json      {"format": "pifuhd-color", "format_version": 1,
                                       "model": <ColorConfig>, "metadata": {...}}
    CHECKPOINT/color/model.safetensors

A checkpoint without ``color/`` is a geometry-only checkpoint and loads as before; the colour
net is read with ``load_color``. Writes are atomic per file, as for the geometry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from pifuhd.checkpoint.native import CONFIG_NAME, WEIGHTS_NAME
from pifuhd.errors import CheckpointError
from pifuhd.io.atomic import atomic_write
from pifuhd.models.color import COLOR_FORMAT_VERSION, ColorConfig, ColorNet

COLOR_FOLDER = "color"
COLOR_FORMAT = "pifuhd-color"


def color_folder(checkpoint: str | os.PathLike) -> Path:
    """``CHECKPOINT/color``: where a checkpoint folder keeps its colour net."""
    return Path(checkpoint) / COLOR_FOLDER


def has_color(checkpoint: str | os.PathLike) -> bool:
    """True when the checkpoint folder holds a colour net's config."""
    return (color_folder(checkpoint) / CONFIG_NAME).is_file()


def save_color(
    net: ColorNet, checkpoint: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``net`` into ``CHECKPOINT/color/`` (created if needed); returns that folder."""
    folder = color_folder(checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": COLOR_FORMAT,
        "format_version": COLOR_FORMAT_VERSION,
        "model": net.config.to_dict(),
        "metadata": metadata or {},
    }
    with atomic_write(folder / WEIGHTS_NAME) as weights, atomic_write(folder / CONFIG_NAME) as cfg:
        save_model(net, str(weights), metadata={"format": "pt"})
        cfg.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return folder


def missing_color_message(checkpoint: str | os.PathLike) -> str:
    """The one-line error for a checkpoint without a colour net, naming the fix."""
    return (
        f"{checkpoint}: no colour network in this checkpoint (no {COLOR_FOLDER}/ folder); "
        f"train one with `pifuhd train color --data DATA --init {checkpoint} --out RUN` and "
        "pass RUN/checkpoints/<step> (or drop --texture)"
    )


def read_color_config(checkpoint: str | os.PathLike) -> tuple[ColorConfig, dict[str, Any]]:
    """(configuration, metadata) of a checkpoint's colour net."""
    if not has_color(checkpoint):
        raise CheckpointError(missing_color_message(checkpoint))
    path = color_folder(checkpoint) / CONFIG_NAME
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path}: not valid JSON ({exc}); the checkpoint is corrupt"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != COLOR_FORMAT or "model" not in doc:
        raise CheckpointError(f"{path}: not a pifuhd colour-net config (no format/model keys)")
    try:
        config = ColorConfig.from_dict(doc["model"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid colour configuration: {exc}") from None
    return config, dict(doc.get("metadata") or {})


def load_color_weights(net: ColorNet, checkpoint: str | os.PathLike) -> None:
    """Copy ``CHECKPOINT/color/model.safetensors`` into ``net``; keys and shapes must match."""
    weights = color_folder(checkpoint) / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{weights.parent}: no {WEIGHTS_NAME}; the checkpoint is incomplete")
    try:
        missing, unexpected = load_model(net, str(weights), strict=False)
    except (SafetensorError, OSError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{weights}: cannot read weights ({first})") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: weights do not match color/config.json (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )


def load_color(
    checkpoint: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[ColorNet, dict[str, Any]]:
    """The colour net (eval mode) and its metadata from a checkpoint folder.

    Raises:
        CheckpointError: no ``color/`` folder (the message names ``pifuhd train color``), or
            a corrupt one.
    """
    config, metadata = read_color_config(checkpoint)
    net = ColorNet(config)
    load_color_weights(net, checkpoint)
    return net.to(device).eval(), metadata
