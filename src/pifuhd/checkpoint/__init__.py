"""Checkpoints: the native folder format (with an optional colour net in ``color/``) and the
official ``pifuhd.pt``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pifuhd.checkpoint.color import has_color, load_color, save_color
from pifuhd.checkpoint.native import is_native, load_native, save_native
from pifuhd.checkpoint.official import load_official, save_official
from pifuhd.models.pifuhd import PIFuHD

__all__ = [
    "has_color",
    "load_checkpoint",
    "load_color",
    "load_native",
    "load_official",
    "save_color",
    "save_native",
    "save_official",
]


def load_checkpoint(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[PIFuHD, dict[str, Any]]:
    """Load a native checkpoint folder or an official ``pifuhd.pt``; model in eval mode.

    The geometry only: a colour net in the folder's ``color/`` is read with ``load_color``.
    """
    path = Path(path)
    if path.is_dir() and is_native(path):
        return load_native(path, device)
    return load_official(path, device)
