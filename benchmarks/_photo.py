"""The photo arguments benchmark scripts share: a checkpoint, a photo and its crop.

The crop is the pipeline's: ``--rect`` when given, else what ``resolve_crop`` picks from the
photo's side files, alpha or foreground (as ``pifuhd reconstruct``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pifuhd.io.crops import CropRect, resolve_crop
from pifuhd.io.images import LoadedImage, load_image


def photo_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with ``checkpoint``, ``image`` and ``--rect``; scripts add their own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint")
    parser.add_argument("image")
    parser.add_argument("--rect", help="crop 'x y w h' (default: the automatic crop)")
    return parser


def load_photo(args: argparse.Namespace) -> tuple[LoadedImage, CropRect]:
    """The photo of ``args.image`` and its crop."""
    image = load_image(args.image)
    crop, _ = resolve_crop(Path(args.image), image, rect=args.rect)
    return image, crop
