"""Training of PIFuHD: normal nets, coarse level, fine level (docs/training.md).

>>> from pifuhd.train import TrainConfig, train
>>> config = TrainConfig.for_stage("coarse", data="data/", out="runs/coarse")  # doctest: +SKIP
>>> train(config)                                                                # doctest: +SKIP

Names are imported on first use, so that ``pifuhd --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConfigError": "pifuhd.train.config",
    "TrainConfig": "pifuhd.train.config",
    "build_config": "pifuhd.train.config",
    "TrainResult": "pifuhd.train.loop",
    "train": "pifuhd.train.loop",
    "TrainingError": "pifuhd.train.setup",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pifuhd.train' has no attribute {name!r}")
