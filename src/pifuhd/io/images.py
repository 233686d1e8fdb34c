"""Loading input photos into float RGB, listing image folders and writing PNGs atomically.

Pixel values stay in sRGB (no linearisation). Every loaded image is turned into
``rgb: (H, W, 3) float32 in [0, 1]`` with any alpha channel composited over a grey background
as straight (non-premultiplied) alpha: ``rgb * a + background * (1 - a)``.
Array layout is row-major: index ``[y, x]``, origin at the top-left pixel, x right, y down.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from pifuhd.errors import InputError
from pifuhd.io.atomic import atomic_write

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
"""File suffixes (lower case) that `list_images` picks up from a folder."""

SIDE_FILE_SUFFIXES = ("_mask", "_rect", "_keypoints", "_normal_front", "_normal_back")
"""Stem endings of files written next to an input photo that are not photos themselves."""

FLOAT_RANGE_EPS = 1e-3
"""How far outside [0, 1] a float image may stray (rounding) before it is an error."""

_ARRAY_SOURCE = "<array>"
_RE_EXPORT = "re-export it as PNG or JPEG"


@dataclass(frozen=True)
class LoadedImage:
    """A photo ready for cropping.

    Attributes:
        rgb: (H, W, 3) float32 sRGB values in [0, 1], alpha already composited.
        alpha: (H, W) float32 in [0, 1] (1 = opaque) when the input had an alpha channel or a
            transparent palette entry, else None.
        source: the path the image was read from, or "<array>" / "<image>" for in-memory input.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    source: str

    @property
    def height(self) -> int:
        """Number of pixel rows H."""
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        """Number of pixel columns W."""
        return int(self.rgb.shape[1])


def load_image(
    source: str | os.PathLike[str] | np.ndarray | Image.Image, background: float = 0.5
) -> LoadedImage:
    """Load a photo from a file, a numpy array or a PIL image.

    Files: anything Pillow decodes fully (JPEG, PNG, WebP, ...), with the EXIF orientation applied.
    Modes L, LA, RGB, RGBA, P (with or without transparency), 1, I;16, I (0..65535) and F
    ([0, 1]) are supported. Arrays: (H, W), (H, W, 3) or (H, W, 4); uint8 is divided by 255,
    uint16 by 65535, bool maps to {0, 1}, floats must already lie in [0, 1].

    Args:
        source: path, array or PIL image.
        background: grey level in [0, 1] that transparent pixels are composited over.

    Returns:
        The image as `LoadedImage`.

    Raises:
        InputError: one line naming the file and the fix, for anything that cannot be used.
    """
    if not 0.0 <= background <= 1.0:
        raise ValueError(f"background must lie in [0, 1], got {background}")
    if isinstance(source, np.ndarray):
        name = _ARRAY_SOURCE
        array = source
    elif isinstance(source, Image.Image):
        name = str(getattr(source, "filename", "") or "<image>")
        array = _pil_to_array(ImageOps.exif_transpose(_decode(source, name)), name)
    else:
        name = os.fspath(source)
        array = _pil_to_array(_open_file(Path(name)), name)
    rgb, alpha = _split_channels(_to_unit_float(array, name), name)
    if alpha is not None:
        rgb = rgb * alpha[..., None] + np.float32(background) * (1.0 - alpha[..., None])
    return LoadedImage(rgb=np.ascontiguousarray(rgb, dtype=np.float32), alpha=alpha, source=name)


@contextlib.contextmanager
def _strict_decoding() -> Iterator[None]:
    """Make Pillow raise on truncated files for the duration of the block."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _open_file(path: Path) -> Image.Image:
    """Open, fully decode and EXIF-orient an image file; every failure is an `InputError`."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image file; pass an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes); {_RE_EXPORT}")
    try:
        with _strict_decoding(), Image.open(path) as img:
            decoded = _decode(img, str(path))
            return ImageOps.exif_transpose(decoded)
    except UnidentifiedImageError:
        raise InputError(
            f"{path}: not a recognised image format; convert it to PNG or JPEG"
        ) from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: image is too large to decode safely; downscale it") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc}); {_RE_EXPORT}") from None


def _decode(img: Image.Image, name: str) -> Image.Image:
    """Force a full decode so that truncated or corrupt data fails here, not later."""
    fmt = img.format or "image"
    try:
        with _strict_decoding():
            img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(
            f"{name}: not a readable image (truncated or corrupt {fmt}); {_RE_EXPORT}"
        ) from exc
    if img.width == 0 or img.height == 0:
        raise InputError(f"{name}: image has zero size ({img.width}x{img.height}); {_RE_EXPORT}")
    return img


def _pil_to_array(img: Image.Image, name: str) -> np.ndarray:
    """Convert a decoded PIL image to (H, W) or (H, W, C) uint8 / uint16 / float32 values."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA", "F") or mode.startswith("I;16"):
        return np.asarray(img)
    if mode == "I":
        values = np.asarray(img)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError(
                f"{name}: 32-bit integer image with values outside 0..65535; {_RE_EXPORT}"
            )
        return values.astype(np.uint16)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode == "P":
        has_alpha = "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    target = "RGBA" if "A" in img.getbands() or "a" in img.getbands() else "RGB"
    try:
        return np.asarray(img.convert(target))
    except (ValueError, OSError) as exc:
        raise InputError(f"{name}: unsupported colour mode {mode}; {_RE_EXPORT}") from exc


def _to_unit_float(array: np.ndarray, name: str) -> np.ndarray:
    """Scale integer data to float32 [0, 1]; check that float data already lies there."""
    if array.size == 0:
        raise InputError(f"{name}: image has zero size {tuple(array.shape)}; pass a real image")
    if array.dtype.kind == "u" and array.dtype.itemsize == 1:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:  # any byte order (I;16B)
        return array.astype(np.float32) / np.float32(65535.0)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise InputError(f"{name}: float image contains NaN or infinity; clean it first")
        low, high = float(values.min()), float(values.max())
        if low < -FLOAT_RANGE_EPS or high > 1.0 + FLOAT_RANGE_EPS:
            raise InputError(
                f"{name}: float image values span [{low:.4g}, {high:.4g}]; scale them to [0, 1]"
            )
        return np.clip(values, 0.0, 1.0)
    raise InputError(
        f"{name}: unsupported pixel type {array.dtype}; pass uint8, uint16 or float in [0, 1]"
    )


def _split_channels(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Split (H, W[, C]) float values into (H, W, 3) colour and an optional (H, W) alpha."""
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3 or values.shape[2] not in (1, 2, 3, 4):
        raise InputError(
            f"{name}: image array has shape {tuple(values.shape)}; "
            "expected (H, W), (H, W, 3) or (H, W, 4)"
        )
    channels = values.shape[2]
    colour = values[..., : 1 if channels <= 2 else 3]
    alpha = values[..., -1].copy() if channels in (2, 4) else None
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return colour, alpha


def list_images(path: str | os.PathLike[str]) -> list[Path]:
    """List the input photos at a path.

    Args:
        path: an image file, or a folder of photos (not searched recursively).

    Returns:
        ``[path]`` for a file; for a folder every ``.jpg/.jpeg/.png/.webp`` file (any letter
        case), sorted by name, leaving out side files whose stem ends with ``_mask``, ``_rect``,
        ``_keypoints``, ``_normal_front`` or ``_normal_back``.

    Raises:
        InputError: the path does not exist, or the folder holds no photos.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder; check the path")
    if root.is_file():
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_file() and _is_photo(p))
    if not found:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise InputError(
            f"{root}: no images ({suffixes}) found; put photos in it or pass an image file"
        )
    return found


def _is_photo(path: Path) -> bool:
    """Whether a file name looks like an input photo rather than a side file."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return not path.stem.lower().endswith(SIDE_FILE_SUFFIXES)


def write_png(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write an image as PNG atomically (temporary file in the same folder, then rename).

    Args:
        path: destination; missing parent folders are created.
        array: (H, W), (H, W, 3) or (H, W, 4); uint8, bool, or float in [0, 1] (rounded to the
            nearest of 256 levels, values outside [0, 1] clipped).
    """
    image = Image.fromarray(_to_uint8(array))
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """(H, W[, 3|4]) uint8 / bool / float [0, 1] -> contiguous uint8 of the same shape."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(array.dtype, np.floating):
        scaled = np.rint(np.clip(array, 0.0, 1.0) * 255.0)
        return np.ascontiguousarray(scaled.astype(np.uint8))
    raise ValueError(f"expected uint8, bool or float pixels, got {array.dtype}")
