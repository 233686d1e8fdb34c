"""Training of PIFuHD: normal nets, coarse level, fine level (docs/training.md).

>>> from pifuhd.train import TrainConfig, train
>>> config = TrainConfig.for_stage("coarse", data="data/", out="runs/coarse")  # doctest: +SKIP
>>> train(config)                                                                # doctest: +SKIP
"""

from pifuhd.train.config import ConfigError, TrainConfig, build_config
from pifuhd.train.loop import TrainResult, train
from pifuhd.train.setup import TrainingError

__all__ = ["ConfigError", "TrainConfig", "TrainResult", "TrainingError", "build_config", "train"]
