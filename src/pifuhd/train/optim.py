"""Optimiser, learning-rate schedule, mixed-precision settings and one optimiser step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from pifuhd.models.hourglass import ConvBlock
from pifuhd.train.config import ConfigError, TrainConfig
from pifuhd.train.levels import trained_parts


def unused_parameter_names(model: nn.Module) -> set[str]:
    """Parameters registered for state-dict compatibility but never used in a forward pass:
    ``bn4`` of a ConvBlock whose input and output widths agree (no downsample branch)."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        if isinstance(module, ConvBlock) and module.downsample is None:
            names |= {f"{prefix}.bn4.{n}" for n, _ in module.bn4.named_parameters()}
    return names


def select_trainable(
    model: nn.Module, stage: str, omega: str, mlp_only: bool = False
) -> list[nn.Parameter]:
    """Set ``requires_grad`` for the stage's parts only (less the unused parameters, which
    DistributedDataParallel would wait for); returns them in state-dict order (a stable
    order for the optimiser state). ``mlp_only``: of those parts, the MLPs only."""
    parts = trained_parts(stage, omega)
    if mlp_only:
        parts = tuple(p for p in parts if p.split(".")[-1] == "mlp")
    unused = unused_parameter_names(model)
    chosen = []
    for name, param in model.named_parameters():
        wanted = name not in unused and any(name.startswith(part + ".") for part in parts)
        param.requires_grad_(wanted)
        if wanted:
            chosen.append(param)
    if not chosen:
        raise ConfigError(f"stage {stage}: the model has none of the parts {list(parts)}")
    return chosen


def build_optimizer(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """RMSProp (PyTorch defaults: alpha 0.99, eps 1e-8, no momentum) or Adam (betas 0.5,
    0.999 as pix2pixHD's normal nets), at ``config.lr``."""
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr, betas=(0.5, 0.999))


def learning_rate(config: TrainConfig, step: int, epoch: int) -> float:
    """Step decay: ``lr * gamma ** (units // lr_decay_every)`` with units = completed
    steps or epochs (constant when ``lr_decay_every`` is 0), times the linear warm-up
    ``min(1, (step + 1) / warmup_steps)`` when ``warmup_steps`` > 0.

    Why a warm-up when fine-tuning: a fresh RMSProp state starts its mean square at 0, so
    step t divides the gradient by ``sqrt(1 - 0.99 ** t)`` times its RMS: about 10x lr per
    weight at step 1, 3x at step 10, 1.4x at step 50 (no bias correction, unlike Adam)."""
    lr = config.lr
    if config.lr_decay_every > 0:
        units = step if config.lr_decay_unit == "step" else epoch
        lr *= config.lr_decay_gamma ** (units // config.lr_decay_every)
    if config.warmup_steps > 0:
        lr *= min(1.0, (step + 1) / config.warmup_steps)
    return lr


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None = full precision)."""
    if amp == "none":
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp=fp16 needs a CUDA device; use amp=bf16 on the CPU")
    return torch.bfloat16 if amp == "bf16" else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` for ``dtype``, or nothing when ``dtype`` is None."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def make_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")


def train_step(
    module: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    phase: str,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    params: list[torch.nn.Parameter],
    grad_clip: float,
    device: torch.device,
    dtype: torch.dtype | None,
) -> dict[str, torch.Tensor]:
    """One optimiser step on one batch; returns the detached losses."""
    with autocast(device, dtype):
        losses = module(batch, phase)
    loss = losses["loss"]
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return {k: v.detach().float() for k, v in losses.items()}
