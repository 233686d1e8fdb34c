"""A crop rectangle of a photo and how to read one: ``x y w h`` text, rect files, the cube.

Pixel convention: ``pifuhd.io.crops``' module docstring.
"""

from __future__ import annotations

import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pifuhd.errors import InputError


@dataclass(frozen=True)
class CropRect:
    """Axis-aligned pixel box ``(x, y, w, h)``: top-left corner, width and height (w, h > 0)."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"CropRect.{name} must be an int, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy ints -> plain ints
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"CropRect needs w, h > 0, got w={self.w}, h={self.h}")

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)``."""
        return (self.x, self.y, self.w, self.h)


def cube_to_pixel_matrix(crop: CropRect, size: int) -> np.ndarray:
    """4x4 map from the crop's normalised cube to input-image pixels.

    The fine image of side ``size`` samples its pixel centres with align_corners=True, so
    cube u = -1 is the centre of its first pixel: x_pix = crop.x + ((u + 1)/2 (size - 1) + 0.5)
    crop.w / size; y likewise with v = -y (image y down); depth z_pix = -z at the same scale
    (z away from the viewer), which keeps the frame right-handed and the faces outward.
    """
    scale = crop.w * (size - 1) / (2.0 * size)
    half_pixel = crop.w / (2.0 * size)
    matrix = np.diag([scale, -scale, -scale, 1.0])
    matrix[0, 3] = crop.x + scale + half_pixel
    matrix[1, 3] = crop.y + scale + half_pixel
    return matrix


def square(cx: int, cy: int, r: int, source: str) -> CropRect:
    """Square rect of half-size r centred on integer pixel coordinates (cx, cy)."""
    if r <= 0:
        raise InputError(f"{source}: keypoints give an empty crop; pass --rect instead")
    return CropRect(cx - r, cy - r, 2 * r, 2 * r)


def parse_rect(text: str, source: str | None = None) -> CropRect:
    """Parse ``"x y w h"`` (spaces and/or commas) into a `CropRect`.

    Args:
        text: four integers; w and h must be positive, x and y may be negative.
        source: name used in error messages (a file name); defaults to the text itself.
    """
    name = source if source is not None else repr(text)
    tokens = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    try:
        x, y, w, h = (int(t) for t in tokens)
    except ValueError:
        raise InputError(
            f"{name}: expected a rect 'x y w h' (four integers), got {text.strip()!r}"
        ) from None
    if w <= 0 or h <= 0:
        raise InputError(f"{name}: rect width and height must be positive, got w={w}, h={h}")
    return CropRect(x, y, w, h)


def read_rect_file(path: str | os.PathLike[str]) -> CropRect:
    """Read a rect file: the first non-empty, non-``#`` line holds ``x y w h``.

    OpenPose-style rect files may list one line per person; the first person is used.
    """
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{file}: no such rect file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read rect file ({exc}); write 'x y w h'") from None
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            return parse_rect(line, source=str(file))
    raise InputError(f"{file}: rect file is empty; write 'x y w h' on the first line")
