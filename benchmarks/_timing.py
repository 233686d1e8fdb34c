"""Timing helpers of ``vs_reference.py``'s worker: per-module forward hooks, CUDA-aware."""

from __future__ import annotations

import time
from typing import Any


def gpu_memory(device: Any) -> dict[str, float]:
    """Peak GPU memory allocated by PyTorch in this process (MB), on a CUDA device."""
    import torch

    if device.type != "cuda":
        return {}
    return {"peak_gpu_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}


def synchronize() -> None:
    """Wait for queued GPU work, so a timestamp after it measures it (kernels are async)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_module(module: Any, name: str, stages: dict[str, float]) -> None:
    """Add each forward call's wall time of ``module`` to ``stages[name]``."""
    if module is None:
        return
    started: list[float] = []

    def before(*_: Any) -> None:
        synchronize()
        started.append(time.perf_counter())

    def after(*_: Any) -> None:
        synchronize()
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - started.pop()

    module.register_forward_pre_hook(before)
    module.register_forward_hook(after)
