"""A small training run's files: the resumable state and the model (safetensors, data only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from pifuhd.errors import InputError
from pifuhd.io.atomic import atomic_write


def save_run(
    run: Path, names: tuple[str, str], model: torch.nn.Module, optim: Any, step: int,
    gen: torch.Generator, metadata: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """Write ``run / names[0]`` (model, optimiser, step and sampler state, for ``--resume``)
    and ``run / names[1]`` (the model's tensors), each atomically."""
    state = {"model": model.state_dict(), "optim": optim.state_dict(), "step": step}
    with atomic_write(run / names[0]) as tmp:
        torch.save({**state, "gen": gen.get_state()}, tmp)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    with atomic_write(run / names[1]) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def model_file(path: str | Path, name: str, what: str, command: str) -> Path:
    """``path`` itself, or ``path / name`` for a run folder; a clear error when missing."""
    path = Path(path)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise InputError(f"{path}: no {what}; train one with `{command}`")
    return path
