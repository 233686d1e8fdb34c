"""Helpers shared by the ``pifuhd`` subcommands: the photos named on the command line, and one
line per photo of a batch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pifuhd.errors import PifuhdError


def print_batch(reports: Sequence[Any]) -> int:
    """One line per photo (``ok IMAGE -> FIRST OUTPUT`` or ``error: ...``) and a summary;
    the exit code: 1 when any photo failed."""
    failed = [r for r in reports if not r.ok]
    for report in reports:
        if report.ok:
            print(f"ok {report.image} -> {report.outputs[0]}")
        else:
            print(f"error: {report.error}", file=sys.stderr)
    print(f"{len(reports) - len(failed)} succeeded, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


def input_images(args: argparse.Namespace) -> list[Path]:
    """The photos named by ``args.inputs`` (files and folders); --keypoints and --mask name
    one photo's file, so they allow one photo only."""
    from pifuhd.io.images import list_images

    images = [image for item in args.inputs for image in list_images(item)]
    if (args.keypoints or args.mask) and len(images) > 1:
        raise PifuhdError("--keypoints/--mask name one image's file; give one input image")
    return images
