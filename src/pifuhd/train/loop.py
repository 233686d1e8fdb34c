"""The training loop: ``train(config)`` runs one stage (or the alternating ``all``) to
``config.steps``, with validation, logs and resumable checkpoints.

Determinism: item ``i`` of epoch ``e`` draws its augmentation and points from
``(seed, e, i)`` (:class:`pifuhd.data.dataset.OccupancyDataset`), the item order of epoch
``e`` from ``(seed, e)``, and nothing else in a step uses a global random generator; a
checkpoint stores the step, the epoch and the position in it, the optimiser, the scaler and
the RNG states. So a run resumed from a checkpoint continues bit for bit as if it had never
stopped (same device, threads and library versions).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, default_collate
from tqdm import tqdm

from pifuhd.io.atomic import atomic_write
from pifuhd.train.color_stage import color_loss_settings, color_parameters
from pifuhd.train.config import ConfigError, TrainConfig
from pifuhd.train.distributed import (
    DistInfo,
    barrier,
    batch_indices,
    dist_from_env,
    gather_digests,
    init_distributed,
    shutdown_distributed,
    steps_per_epoch,
)
from pifuhd.train.levels import Phase, StageModule, set_phase_mode
from pifuhd.train.logs import METRICS, RunLog, truncate_metrics
from pifuhd.train.optim import (
    autocast_dtype,
    build_optimizer,
    learning_rate,
    make_scaler,
    select_trainable,
    set_learning_rate,
    train_step,
)
from pifuhd.train.setup import (
    TrainingError,
    build_run_models,
    perceptual_loss,
    run_carried_metadata,
    run_inference_settings,
    seed_everything,
    split_run_subjects,
    training_datasets,
    training_device,
)
from pifuhd.train.state import (
    TRAIN_CONFIG,
    Progress,
    latest_checkpoint,
    load_trainer_state,
    restore_rng,
    save_checkpoint,
    trainer_state,
)
from pifuhd.train.validate import (
    format_metrics,
    run_validation,
    run_validation_dataset,
    to_device,
)

log = logging.getLogger(__name__)

STALE_FINE = (
    "training the coarse level of an initialised model: its fine level reads the coarse MLP's "
    "features (omega), so reconstructions use a stale fine level until you also run "
    "`pifuhd train fine --init RUN` (omega frozen; --set mlp_only=true is enough)"
)
"""Logged when the coarse stage starts from ``init``: a coarse-only fine-tuning changed the
features the fine MLP was trained on (in one run, 600 coarse MLP steps kept the coarse
level's legs while the untouched fine level dropped the lower legs of front views)."""


@dataclass
class TrainResult:
    """What a call of ``train`` did."""

    step: int
    """Steps done in total (including those before a resume)."""
    checkpoint: Path | None
    """The last checkpoint written (rank 0), or None."""
    losses: dict[str, float] = field(default_factory=dict)
    """The last logged training losses."""
    validation: dict[str, float] = field(default_factory=dict)
    """The last validation metrics."""


def phase_at(stage: str, step: int, phase_steps: int) -> Phase:
    """The phase of step ``step``: the stage itself, or for ``all`` coarse and fine phases of
    ``phase_steps`` steps alternating, coarse first."""
    if stage != "all":
        return stage  # type: ignore[return-value]
    return "coarse" if (step // phase_steps) % 2 == 0 else "fine"


def _interactive() -> bool:
    return sys.stderr.isatty()


class Trainer:
    """State of one run on one process; ``run`` trains it. Use ``train`` instead."""

    def __init__(
        self, config: TrainConfig, info: DistInfo, device: torch.device, resume: bool
    ) -> None:
        if not config.data:
            raise ConfigError("no data folder: pass --data DATA/ (a `pifuhd prepare` output)")
        if not config.out:
            raise ConfigError("no run folder: pass --out RUN/")
        self.config, self.info, self.device = config, info, device
        self.run_dir = Path(config.out)
        self.dtype = autocast_dtype(config.amp, device)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.resume_from = self._resume_folder(resume)

        model, color = build_run_models(config, self.resume_from)
        self.inference = run_inference_settings(config, self.resume_from)
        self.carried = run_carried_metadata(config, self.resume_from)
        self.model = model.to(device)
        self.color = None if color is None else color.to(device)
        if self.color is not None:
            self.params = color_parameters(self.model, self.color)
        else:
            self.params = select_trainable(self.model, config.stage, config.omega, config.mlp_only)
        self.module = StageModule(
            self.model,
            normals_input=config.normals_input,
            omega=config.omega,
            perceptual=perceptual_loss(config),
            normal_l1_weight=config.normal_l1_weight,
            perceptual_weight=config.vgg_weight,
            color=self.color,
            color_loss=color_loss_settings(config),
            class_balance=config.class_balance,
        ).to(device)
        self.wrapped: torch.nn.Module = self.module
        if info.enabled:
            self.wrapped = DistributedDataParallel(
                self.module,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=config.stage == "all",
            )
        self.optimizer = build_optimizer(self.params, config)
        self.scaler = make_scaler(config.amp, device)
        self.progress = Progress()

        train_names, val_names = split_run_subjects(config)
        self.datasets = training_datasets(config, self.model, train_names)
        self.items = len(next(iter(self.datasets.values())))
        self.steps_per_epoch = steps_per_epoch(self.items, config.batch_size, info.world)
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"{self.items} training items cannot fill one step of batch_size "
                f"{config.batch_size} x {info.world} processes; lower batch_size"
            )
        self.val_dataset = None
        if val_names and config.val_every:
            self.val_dataset = run_validation_dataset(config, self.model, val_names)
        elif config.val_every:
            log.warning(
                "no held-out subjects (val_fraction %s): validation off", config.val_fraction
            )
        self.last_checkpoint: Path | None = None
        self.last_losses: dict[str, float] = {}
        self.last_validation: dict[str, float] = {}
        self.rng_state: dict[str, Any] | None = None
        if self.resume_from is not None:
            self._load_state(self.resume_from)
        if info.is_main:
            if self.resume_from is None:  # records of an earlier attempt that saved nothing
                truncate_metrics(self.run_dir / METRICS, 0)
            with atomic_write(self.run_dir / TRAIN_CONFIG) as path:
                path.write_text(config.to_json())
        self.log = RunLog(self.run_dir, enabled=info.is_main, tensorboard=config.tensorboard)
        log.info(
            "stage %s: %d training items (%d subjects), %d held out; %d steps per epoch",
            config.stage,
            self.items,
            len(train_names),
            len(val_names),
            self.steps_per_epoch,
        )
        if config.stage == "coarse" and config.init and info.is_main:
            log.warning(STALE_FINE)

    def _resume_folder(self, resume: bool) -> Path | None:
        latest = (
            latest_checkpoint(self.run_dir) if (self.run_dir / "checkpoints").is_dir() else None
        )
        if latest is not None and not resume:
            raise TrainingError(
                f"{self.run_dir} already holds a run (checkpoints/{latest.name}); pass --resume "
                "to continue it or choose another --out"
            )
        if resume and latest is None:
            log.warning("--resume: %s has no checkpoint yet; starting from step 0", self.run_dir)
        return latest

    def _load_state(self, folder: Path) -> None:
        state = load_trainer_state(folder)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(int(state["step"]), int(state["epoch"]), int(state["position"]))
        self.rng_state = state["rng"]
        if self.info.is_main:
            truncate_metrics(self.run_dir / METRICS, self.progress.step)
        log.info("resuming from %s (step %d)", folder, self.progress.step)

    # ---- data ------------------------------------------------------------------------
    def _segment_end(self, phase_start: int) -> int:
        """Last step (exclusive) that the current loader may serve: the end of the epoch,
        the end of the phase (stage all) or the end of the run."""
        p = self.progress
        end = p.step + (self.steps_per_epoch - p.position)
        if self.config.stage == "all":
            phase_len = self.config.phase_steps
            end = min(end, (phase_start // phase_len + 1) * phase_len)
        return min(end, self.config.steps)

    def _loader(self, phase: Phase, end: int) -> Iterator[dict]:
        """Batches of this rank from the current position up to step ``end`` (exclusive)."""
        p, c = self.progress, self.config
        dataset = self.datasets["coarse" if phase == "normals" else phase]
        dataset.set_epoch(p.epoch)
        schedule = [
            batch_indices(self.items, c.batch_size, self.info, c.seed, p.epoch, p.position + k)
            for k in range(end - p.step)
        ]
        loader = DataLoader(
            dataset,
            batch_sampler=schedule,
            num_workers=c.workers,
            collate_fn=default_collate,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(c.seed),
        )
        return iter(loader)

    # ---- loop ------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> TrainResult:
        """Train to ``config.steps`` (or ``stop_after`` more steps); checkpoint at the end."""
        c, p = self.config, self.progress
        last = c.steps if stop_after is None else min(c.steps, p.step + stop_after)
        if self.rng_state is not None:
            restore_rng(self.rng_state)
        bar = tqdm(
            total=c.steps,
            initial=p.step,
            unit="step",
            disable=not (self.info.is_main and _interactive()),
            dynamic_ncols=True,
        )
        sums: dict[str, torch.Tensor] = {}
        count, busy = 0, 0.0  # steps and their seconds (data + compute) since the last log
        batches: Iterator[dict] | None = None
        segment_end = -1
        try:
            while p.step < last:
                started = time.perf_counter()
                phase = phase_at(c.stage, p.step, c.phase_steps)
                if batches is None or p.step >= segment_end:
                    segment_end = self._segment_end(p.step)
                    batches = self._loader(phase, segment_end)
                batch = to_device(next(batches), self.device)
                set_phase_mode(self.model, phase, c.omega, self.color)
                lr = learning_rate(c, p.step, p.epoch)
                set_learning_rate(self.optimizer, lr)
                losses = train_step(
                    self.wrapped,
                    batch,
                    phase,
                    self.optimizer,
                    self.scaler,
                    self.params,
                    c.grad_clip,
                    self.device,
                    self.dtype,
                )
                for k, v in losses.items():
                    key = f"{phase}/{k}" if c.stage == "all" else k
                    sums[key] = sums.get(key, 0.0) + v
                count += 1
                busy += time.perf_counter() - started
                p.step += 1
                p.position += 1
                if p.position == self.steps_per_epoch:
                    p.epoch, p.position, batches = p.epoch + 1, 0, None
                bar.update(1)
                if p.step % c.log_every == 0 or p.step == last:
                    self._log_train(sums, count, lr, count / max(busy, 1e-9), phase)
                    sums, count, busy = {}, 0, 0.0
                if c.val_every and (p.step % c.val_every == 0 or p.step == c.steps):
                    self._validate()
                due = c.checkpoint_every > 0 and p.step % c.checkpoint_every == 0
                if due or p.step == last:
                    self._checkpoint()
        finally:
            bar.close()
            self.log.close()
        return TrainResult(p.step, self.last_checkpoint, self.last_losses, self.last_validation)

    def _log_train(
        self, sums: dict[str, torch.Tensor], count: int, lr: float, rate: float, phase: str
    ) -> None:
        keys = sorted(sums)
        values = torch.stack([torch.as_tensor(sums[k], device=self.device) for k in keys])
        if self.info.enabled:
            dist.all_reduce(values)
            values /= self.info.world
        means = {k: float(v) / count for k, v in zip(keys, values.cpu(), strict=True)}
        if not all(math.isfinite(v) for v in means.values()):
            raise TrainingError(
                f"the loss is not finite in steps {self.progress.step - count + 1}.."
                f"{self.progress.step}; lower lr, set grad_clip, or use amp=none"
            )
        self.last_losses = means
        p = self.progress
        self.log.record(
            "train", p.step, epoch=p.epoch, lr=lr, steps_per_s=rate, phase=phase, **means
        )
        if self.info.is_main:
            loss = means.get("loss", means.get(f"{phase}/loss", math.nan))
            log.info(
                "step %d/%d  %s loss %.4f  lr %.3g  %.2f steps/s  epoch %d",
                p.step,
                self.config.steps,
                phase,
                loss,
                lr,
                rate,
                p.epoch,
            )

    def _validate(self) -> None:
        if self.val_dataset is not None and self.info.is_main:
            step = self.progress.step
            metrics = run_validation(
                self.model, self.val_dataset, self.config, step, self.run_dir, self.device,
                self.color,
            )  # fmt: skip
            self.last_validation = metrics
            self.log.record("val", step, **metrics)
            log.info("validation at step %d: %s", step, format_metrics(metrics))
        barrier(self.info)

    def _checkpoint(self) -> None:
        p = self.progress
        if self.config.check_sync:
            digests = gather_digests(self.model if self.color is None else self.color, self.info)
            self.log.record("sync", p.step, digests=digests, in_sync=len(set(digests)) == 1)
            if len(set(digests)) != 1 and self.info.is_main:
                log.error("ranks hold different weights at step %d: %s", p.step, digests)
        if self.info.is_main:
            state = trainer_state(p, self.optimizer, self.scaler)
            self.last_checkpoint = save_checkpoint(
                self.run_dir, self.model, state, self.config, self.config.keep_checkpoints,
                self.color, self.inference, self.carried,
            )  # fmt: skip
            self.log.record("checkpoint", p.step, path=str(self.last_checkpoint))
        barrier(self.info)


def train(
    config: TrainConfig, *, resume: bool = False, stop_after: int | None = None
) -> TrainResult:
    """Train ``config.stage`` on ``config.data`` into ``config.out``.

    resume: continue from ``RUN/checkpoints/latest`` (bit for bit). stop_after: leave after
    this many steps of this call (with a checkpoint), e.g. to fit a time slot.
    Multi-process under torchrun: see ``pifuhd.train.distributed``.
    """
    info = dist_from_env()
    device = training_device(config.device, info)
    joined = info.enabled and not dist.is_initialized()
    init_distributed(info, device)
    try:
        return Trainer(config, info, device, resume).run(stop_after)
    finally:
        if joined:
            shutdown_distributed()
