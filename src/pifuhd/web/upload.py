"""A first look at an uploaded photo, before it waits in the queue: is it an image at all, and
not a decompression bomb (a small file that decodes to gigabytes)?

The full decode (truncated data, odd modes) happens in the job, through
``pifuhd.io.images.load_image``, whose errors the page shows as well.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from pifuhd.errors import InputError

MAX_PIXELS = 50_000_000
"""Largest photo accepted, in pixels (8K x 6K); Pillow's own guard stops at 179 M."""


def check_upload(data: bytes, name: str) -> tuple[int, int]:
    """The photo's (width, height), read from its header only.

    Raises:
        InputError: not an image Pillow knows, or more than ``MAX_PIXELS`` pixels; the
            message names ``name`` (the client's file name, only shown) and the fix.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except UnidentifiedImageError:
        raise InputError(
            f"{name}: not a recognised image format; upload a PNG or JPEG photo"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        width, height = MAX_PIXELS, 2  # reported below as too large
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"{name}: not a readable image ({exc}); re-export it as PNG or JPEG"
        ) from exc
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{name}: the image is too large to decode safely (over {MAX_PIXELS // 10**6} "
            "megapixels); downscale it"
        )
    return width, height
