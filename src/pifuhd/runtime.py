"""How the networks run at inference: precision, memory layout, chunk sizes, the fast query,
and how its stages are timed.

- ``precision="fp32"``: everything in float32, as the networks were trained.
- ``precision="bf16"``: the encoders under bfloat16 autocast with channels-last activations, and
  the occupancy MLPs' big matrix products in bfloat16 (``pifuhd.models.fast_query``). The
  error this adds is measured in ``tests/test_fast_query.py`` and BENCHMARKS.md.
- ``precision="auto"``: bf16 where the hardware computes it natively (CPUs with AVX-512 BF16
  or AMX, CUDA GPUs of compute capability 8.0 and later), else fp32.

``fast=False`` keeps the plain path (``PIFuHD.query`` on every point, float32), the reference
the fast path is tested against.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch

from pifuhd.geometry.progress import ProgressFn
from pifuhd.geometry.projection import default_calib
from pifuhd.models.fast_query import FastQuery, supports_fast_query
from pifuhd.models.pifuhd import PIFuHD, PIFuHDFeatures
from pifuhd.stages import notify_stage

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")

CPU_CHUNK = 4096
"""Points per network call on a CPU: the per-chunk activations (4096 x 1024 floats for the
widest layer) stay under glibc's mmap threshold, so buffers are reused instead of being
page-faulted in on every call, and they fit in the last-level cache."""
GPU_CHUNK = 262144
"""Points per network call on a GPU: large enough to fill it."""


def bf16_supported(device: torch.device) -> bool:
    """True when ``device`` computes bfloat16 matrix products natively."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        mkldnn = torch.backends.mkldnn.is_available()
        return bool(mkldnn and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16"]:
    """'auto' -> 'bf16' where supported natively, else 'fp32'; others are checked."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision  # type: ignore[return-value]


def default_chunk(device: torch.device) -> int:
    """Points per network call for ``device``: CPU_CHUNK or GPU_CHUNK."""
    return GPU_CHUNK if device.type == "cuda" else CPU_CHUNK


@torch.inference_mode()
def encode(
    model: PIFuHD,
    coarse: torch.Tensor,
    fine: torch.Tensor,
    precision: str,
    body_normals: torch.Tensor | None = None,
) -> PIFuHDFeatures:
    """``model.encode`` in ``precision`` ('fp32' or 'bf16'); features come back as float32.

    coarse: (B, 3, S, S), fine: (B, 3, 2S, 2S) in [-1, 1]; body_normals: (B, 6, S, S) or
    None (``PIFuHD.encode``). In bf16 the activations are channels-last (the weights keep
    their layout: converting them would copy every one).
    """
    if precision == "fp32":
        return model.encode(coarse, fine, body_normals)
    channels_last = torch.channels_last
    if body_normals is not None:
        body_normals = body_normals.contiguous(memory_format=channels_last)
    with torch.autocast(device_type=coarse.device.type, dtype=torch.bfloat16):
        features = model.encode(
            coarse.contiguous(memory_format=channels_last),
            fine.contiguous(memory_format=channels_last),
            body_normals,
        )
    return PIFuHDFeatures(
        coarse=features.coarse.float().contiguous(),
        fine=features.fine.float().contiguous(),
        normals=[n.float().contiguous() for n in features.normals],
    )


def occupancy_query_torch(
    model: PIFuHD, features: PIFuHDFeatures, precision: str, fast: bool = True
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A grid query on the features' device: points (N, 3) float32 in the cube (a tensor on
    that device) -> (N,) float32 fine occupancy there. The same function as
    :func:`occupancy_query`, without the copies to and from NumPy."""
    calib = default_calib(1, features.coarse.device)
    if fast and supports_fast_query(model):
        with torch.inference_mode():
            fast_query = FastQuery(model, features, calib, precision=precision)

        @torch.inference_mode()
        def query(points: torch.Tensor) -> torch.Tensor:
            return fast_query(points).float()

        return query

    @torch.inference_mode()
    def plain_query(points: torch.Tensor) -> torch.Tensor:
        return model.query(features, points.T.unsqueeze(0), calib)[0, 0].float()

    return plain_query


def occupancy_query(
    model: PIFuHD, features: PIFuHDFeatures, precision: str, fast: bool = True
) -> Callable[[np.ndarray], np.ndarray]:
    """A grid query for one image: points (N, 3) float32 in the cube -> (N,) float32 fine
    occupancy. Fast path when ``fast`` and the model supports it, else ``PIFuHD.query``."""
    device = features.coarse.device
    calib = default_calib(1, device)
    if fast and supports_fast_query(model):
        with torch.inference_mode():
            fast_query = FastQuery(model, features, calib, precision=precision)

        @torch.inference_mode()
        def query(points: np.ndarray) -> np.ndarray:
            return fast_query(torch.from_numpy(points).to(device)).cpu().numpy()

        return query

    @torch.inference_mode()
    def plain_query(points: np.ndarray) -> np.ndarray:
        pts = torch.from_numpy(points).to(device).T.unsqueeze(0)
        return model.query(features, pts, calib)[0, 0].float().cpu().numpy()

    return plain_query


def grid_ticker(progress: Callable[[str, int, int], None] | None) -> ProgressFn:
    """A grid evaluator's ``progress(done, scheduled)`` callback that reports
    ``progress("grid", done, scheduled)``: the points evaluated so far out of the points
    scheduled so far. The total grows as a coarse-to-fine or octree evaluation starts its
    levels (:mod:`pifuhd.geometry.progress`); it is R^3 only for a dense grid."""

    def tick(done: int, scheduled: int) -> None:
        if progress is not None:
            progress("grid", done, scheduled)

    return tick


@contextmanager
def timed_stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[name]``; on CUDA, after the GPU's queued
    work has finished (kernels run asynchronously), so each stage gets its own time. The
    stage's listener (``pifuhd.stages``) hears ``name`` as the block starts."""
    notify_stage(name)
    synchronize()
    start = time.perf_counter()
    try:
        yield
    finally:
        synchronize()
        seconds = time.perf_counter() - start
        timings[name] = timings.get(name, 0.0) + seconds
        log.debug("stage %s: %.2f s", name, seconds)


def synchronize() -> None:
    """Wait for the GPU's queued work (nothing to do without CUDA in use)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
