"""Multi-process training under ``torchrun``: process group, data sharding, rank checks.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is one process.
Backend: NCCL when training on CUDA, gloo on the CPU. Each step, every rank draws its own
``batch_size`` items from one seeded per-epoch permutation (DistributedSampler-style), and
DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that logs, validates and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def dist_from_env() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment (defaults: one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistInfo(rank=rank, world=world, local_rank=local)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo otherwise); nothing for one process."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(
        backend=backend,
        rank=info.rank,
        world_size=info.world,
        timeout=timedelta(minutes=30),
        **kwargs,
    )
    log.info("rank %d of %d joined the %s process group", info.rank, info.world, backend)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """(count,) permutation of the item indices for one epoch, from (seed, epoch) only."""
    return np.random.default_rng([seed, epoch, 0x0DA7A]).permutation(count)


def steps_per_epoch(count: int, batch_size: int, world: int) -> int:
    """Full steps in an epoch of ``count`` items (the remainder is dropped)."""
    return count // (batch_size * world)


def batch_indices(
    count: int, batch_size: int, info: DistInfo, seed: int, epoch: int, position: int
) -> list[int]:
    """This rank's item indices at step ``position`` of ``epoch``: ranks take consecutive
    ``batch_size`` slices of the step's ``batch_size * world`` items of ``epoch_order``."""
    order = epoch_order(count, seed, epoch)
    start = (position * info.world + info.rank) * batch_size
    return order[start : start + batch_size].tolist()


def weights_digest(module: nn.Module) -> str:
    """SHA-256 over the state dict's names, dtypes, shapes and bytes (16 hex digits)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def gather_digests(module: nn.Module, info: DistInfo) -> list[str]:
    """Every rank's ``weights_digest``, in rank order (collective: all ranks must call)."""
    mine = weights_digest(module)
    if not info.enabled:
        return [mine]
    out: list[str | None] = [None] * info.world
    dist.all_gather_object(out, mine)
    return [str(d) for d in out]
