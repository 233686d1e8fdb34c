"""Small atomic file writers for prepared data: PNG maps, arrays (npz, npy), JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from pifuhd.io.atomic import atomic_write


def downsample2(image: np.ndarray) -> np.ndarray:
    """2x2 box filter: (H, W, C) -> (H/2, W/2, C); H and W even."""
    h, w = image.shape[:2]
    return image.reshape(h // 2, 2, w // 2, 2, *image.shape[2:]).mean(axis=(1, 3))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8, rounded."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> None:
    """Write a uint8 (H, W[, 3]) or uint16 (H, W) array as PNG, atomically."""
    image = Image.fromarray(np.ascontiguousarray(array))  # uint16 -> mode "I;16"
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")


def save_npz(path: Path, arrays: dict[str, np.ndarray], *, compress: bool = True) -> None:
    """Write arrays to an ``.npz`` (compressed unless ``compress=False``) atomically."""
    save = np.savez_compressed if compress else np.savez
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        save(handle, **arrays)


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write one array as ``.npy`` atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def write_json(path: Path, doc: dict) -> None:
    """Write ``doc`` as indented JSON, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
