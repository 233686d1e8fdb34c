"""Training checkpoints: model weights (native format) plus everything needed to resume.

Layout::

    RUN/checkpoints/step_0001000/config.json          native checkpoint (pifuhd.checkpoint)
    RUN/checkpoints/step_0001000/model.safetensors
    RUN/checkpoints/step_0001000/color/               colour stage: the colour net
    RUN/checkpoints/step_0001000/trainer_state.pt     optimiser, scaler, progress, RNG states
    RUN/checkpoints/step_0001000/train_config.json
    RUN/checkpoints/latest                            text: the newest folder's name

A checkpoint is written in a temporary folder and renamed into place, then ``latest`` is
replaced atomically, so a run killed at any moment leaves the previous checkpoint usable.
``trainer_state.pt`` holds only tensors and plain Python values: it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model

from pifuhd.checkpoint.color import save_color
from pifuhd.checkpoint.native import WEIGHTS_NAME, read_native_config, save_native
from pifuhd.errors import CheckpointError
from pifuhd.io.atomic import atomic_write
from pifuhd.models.color import ColorNet
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.train.config import TrainConfig

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAINER_STATE = "trainer_state.pt"
TRAIN_CONFIG = "train_config.json"
STATE_VERSION = 1


@dataclass
class Progress:
    """Where a run is: optimiser steps done, the epoch, and batches done in that epoch."""

    step: int = 0
    epoch: int = 0
    position: int = 0


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}"


def capture_rng() -> dict[str, Any]:
    """Global torch / CUDA / numpy / Python RNG states as tensors and plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng``."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainer_state(
    progress: Progress,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> dict[str, Any]:
    """Everything besides the weights that resuming needs (weights_only-loadable)."""
    return {
        "version": STATE_VERSION,
        "step": progress.step,
        "epoch": progress.epoch,
        "position": progress.position,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": capture_rng(),
    }


def save_checkpoint(
    run: Path,
    model: PIFuHD,
    state: dict[str, Any],
    config: TrainConfig,
    keep: int = 0,
    color: ColorNet | None = None,
    inference: dict[str, Any] | None = None,
    carried: dict[str, Any] | None = None,
) -> Path:
    """Write ``RUN/checkpoints/step_NNNNNNN`` atomically (with ``color/`` when a colour net
    is given), point ``latest`` at it, and keep only the newest ``keep`` checkpoints (0 =
    all). ``inference``: pipeline settings to record (the init's); ``carried``: metadata kept
    from the init (``setup.run_carried_metadata``). Returns the folder."""
    root = Path(run) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(int(state["step"]))
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
    try:
        metadata = {**(carried or {}), "step": int(state["step"]), "stage": config.stage}
        metadata["seed"] = config.seed
        save_native(model, tmp, metadata=metadata, inference=inference)
        if color is not None:
            save_color(color, tmp, metadata=metadata)
        torch.save(state, tmp / TRAINER_STATE)
        (tmp / TRAIN_CONFIG).write_text(config.to_json())
        os.chmod(tmp, 0o755)
        final = root / name
        if final.exists():  # re-saving a step (a resumed run): move the old one aside first
            old = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.old."))
            os.replace(final, old / name)
            shutil.rmtree(old)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with atomic_write(root / LATEST) as pointer:
        pointer.write_text(name + "\n")
    prune_checkpoints(root, keep, protect=name)
    return final


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoint folders under ``root`` (RUN/checkpoints), oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if p.is_dir())


def prune_checkpoints(root: Path, keep: int, protect: str = "") -> None:
    """Delete all but the newest ``keep`` checkpoints (never ``protect``); 0 keeps all."""
    if keep <= 0:
        return
    for folder in list_checkpoints(root)[:-keep]:
        if folder.name != protect:
            shutil.rmtree(folder, ignore_errors=True)
    for stale in root.glob(".step_*"):  # temporaries of a run killed mid-write
        shutil.rmtree(stale, ignore_errors=True)


def latest_checkpoint(run: Path) -> Path | None:
    """The folder named by ``RUN/checkpoints/latest``, or None when the run has none."""
    root = Path(run) / CHECKPOINTS
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    folder = root / pointer.read_text().strip()
    if not (folder / TRAINER_STATE).is_file():
        raise CheckpointError(f"{pointer} names {folder.name}, which is missing or incomplete")
    return folder


def resolve_weights(path: str | os.PathLike) -> Path:
    """A run folder -> its latest checkpoint; anything else is returned as it is."""
    path = Path(path)
    if (path / CHECKPOINTS / LATEST).is_file():
        latest = latest_checkpoint(path)
        assert latest is not None
        return latest
    return path


def load_weights_into(model: PIFuHD, folder: Path) -> None:
    """Copy a native checkpoint's weights into ``model``; the configurations must match."""
    config, _ = read_native_config(folder)
    if config != model.config:
        raise CheckpointError(
            f"{folder}: its model configuration differs from the run's; resume with the "
            "same preset / init"
        )
    missing, unexpected = load_model(model, str(folder / WEIGHTS_NAME), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{folder}: weights do not match the model ({len(missing)} missing)")


def load_trainer_state(folder: Path) -> dict[str, Any]:
    """``trainer_state.pt`` of a checkpoint folder, read with ``weights_only=True``."""
    path = folder / TRAINER_STATE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read the trainer state ({exc})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: not a trainer state of this pifuhd version")
    return state
