"""Checkpoints: the native folder format and the official ``pifuhd.pt``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pifuhd.checkpoint.native import is_native, load_native, save_native
from pifuhd.checkpoint.official import load_official, save_official
from pifuhd.models.pifuhd import PIFuHD

__all__ = ["load_checkpoint", "load_native", "load_official", "save_native", "save_official"]


def load_checkpoint(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[PIFuHD, dict[str, Any]]:
    """Load a native checkpoint folder or an official ``pifuhd.pt``; model in eval mode."""
    path = Path(path)
    if path.is_dir() and is_native(path):
        return load_native(path, device)
    return load_official(path, device)
