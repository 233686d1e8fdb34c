"""Shared fixtures: tiny configurations and models that run in milliseconds."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from pifuhd.config import (
    CoarseConfig,
    FineConfig,
    HourglassConfig,
    MlpConfig,
    NormalNetConfig,
    PIFuHDConfig,
)

ASSETS = Path(__file__).parent / "assets"
PERSON = ASSETS / "person.png"
PERSON_CROP_METHOD = "mediapipe" if importlib.util.find_spec("mediapipe") else "foreground"
"""How `resolve_crop` crops PERSON (no side files, no alpha): MediaPipe finds the person where
it is installed (a default dependency on most platforms), else the background estimate."""


def tiny_config(channels: int = 32, image_size: int = 64) -> PIFuHDConfig:
    """Full PIFuHD structure (normals, 2 coarse stacks with skips, fine level on Omega) at toy
    sizes. ``channels=256`` gives a configuration the official file format can express."""
    normal = NormalNetConfig(base_channels=4, num_downsample=2, num_blocks=1)
    coarse = CoarseConfig(
        encoder=HourglassConfig(num_stacks=2, depth=1, channels=channels, out_channels=8),
        mlp=MlpConfig(dims=(9, 16, 16, 8, 4, 1), skip_layers=(2, 3, 4), merge_layer=2),
        front_normal=normal,
        back_normal=normal,
        image_size=image_size,
    )
    fine = FineConfig(
        encoder=HourglassConfig(
            num_stacks=1, depth=1, channels=channels, out_channels=4, pool=False
        ),
        mlp=MlpConfig(dims=(12, 8, 8, 1), skip_layers=(1,), merge_layer=1),
        image_size=2 * image_size,
    )
    return PIFuHDConfig(coarse=coarse, fine=fine)


@pytest.fixture
def tiny() -> PIFuHDConfig:
    return tiny_config()


def random_images(seed: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(coarse (1,3,size,size), fine (1,3,2size,2size)) smooth images in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=g) * 2 - 1
    coarse = torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=True)
    fine = torch.nn.functional.interpolate(low, size=2 * size, mode="bilinear", align_corners=True)
    return coarse, fine


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread avoids OpenMP oversubscription on a shared CPU
    (seconds instead of milliseconds per step when another process holds a core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def anny_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Anny's cache: ANNY_CACHE_DIR when set (warm: seconds), else a temporary folder that is
    deleted afterwards (cold: about 70-95 s and 790 MB, never left in the home folder)."""
    if os.environ.get("ANNY_CACHE_DIR"):
        yield
        return
    os.environ["ANNY_CACHE_DIR"] = str(tmp_path_factory.mktemp("anny_cache"))
    try:
        yield
    finally:
        del os.environ["ANNY_CACHE_DIR"]
