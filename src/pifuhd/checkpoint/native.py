"""The native checkpoint format: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` = {"format": "pifuhd", "format_version": 1, "model": <PIFuHDConfig>,
"metadata": {...}}. Weights are plain tensors (safetensors: no code, no pickle). Writes are
atomic: each file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model

from pifuhd.config import FORMAT_VERSION, PIFuHDConfig
from pifuhd.errors import CheckpointError
from pifuhd.io.atomic import atomic_write
from pifuhd.models.pifuhd import PIFuHD, empty_model

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def is_native(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding a native checkpoint's config."""
    return (Path(path) / CONFIG_NAME).is_file()


def save_native(
    model: PIFuHD,
    folder: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    inference: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``folder`` (created if needed); returns the folder. ``inference``:
    the pipeline settings to record (``pifuhd.inference_settings``; None records none)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": "pifuhd",
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "metadata": metadata or {},
    }
    if inference is not None:
        doc["inference"] = inference
    with atomic_write(folder / WEIGHTS_NAME) as weights, atomic_write(folder / CONFIG_NAME) as cfg:
        save_model(model, str(weights), metadata={"format": "pt"})
        cfg.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return folder


def read_native_config(folder: str | os.PathLike) -> tuple[PIFuHDConfig, dict[str, Any]]:
    """(configuration, metadata) of a native checkpoint folder."""
    folder = Path(folder)
    path = folder / CONFIG_NAME
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{folder}: no {CONFIG_NAME}; pass a folder written by 'pifuhd convert' or "
            "training, or an official pifuhd.pt file"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path}: not valid JSON ({exc}); the checkpoint is corrupt"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != "pifuhd" or "model" not in doc:
        raise CheckpointError(f"{path}: not a pifuhd checkpoint config (no format/model keys)")
    try:
        config = PIFuHDConfig.from_dict(doc["model"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid model configuration: {exc}") from None
    return config, dict(doc.get("metadata") or {})


def read_inference_dict(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``"inference"`` object of a native checkpoint's config (pipeline settings,
    ``pifuhd.inference_settings``), or None when it records none."""
    path = Path(folder) / CONFIG_NAME
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read ({exc}); the checkpoint is corrupt") from None
    data = doc.get("inference") if isinstance(doc, dict) else None
    if data is not None and not isinstance(data, dict):
        raise CheckpointError(f'{path}: "inference" must be an object, got {type(data).__name__}')
    return data


def load_native(
    folder: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[PIFuHD, dict[str, Any]]:
    """Model (eval mode) and metadata of a native checkpoint folder; strict key and shape check."""
    folder = Path(folder)
    config, metadata = read_native_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS_NAME}; the checkpoint is incomplete")
    model = empty_model(config)
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{weights}: cannot read weights ({first}); re-convert or re-download it"
        ) from None
    unexpected = sorted(set(state) - set(model.state_dict()))
    if not unexpected:
        try:
            model.load_state_dict(state, strict=False, assign=True)
        except RuntimeError as exc:  # a shape mismatch
            first = str(exc).strip().splitlines()[-1].strip()
            raise CheckpointError(
                f"{weights}: weights do not match config.json ({first[:160]})"
            ) from None
    # a tensor shared by two modules (a conv block's bn4 is also its downsample.0) is stored
    # once; what is still on the meta device was in the file under no name
    missing = [k for k, v in model.state_dict(keep_vars=True).items() if v.is_meta]
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: weights do not match config.json (missing {sorted(missing)[:3]}, "
            f"unexpected {unexpected[:3]}); the folder mixes two models"
        )
    return model.to(device).eval(), metadata
