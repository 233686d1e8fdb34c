"""Argument parsers of the longer ``pifuhd`` subcommands (``cli.py`` wires them to their
functions, so this module imports nothing of the package)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_reconstruct_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    """``pifuhd reconstruct``: photos -> meshes."""
    rec = sub.add_parser("reconstruct", help="photos -> meshes")
    rec.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    rec.add_argument("-c", "--checkpoint", type=Path, help="pifuhd.pt or a checkpoint folder")
    rec.add_argument("-o", "--out", type=Path, default=Path("results"), help="output folder")
    rec.add_argument("-r", "--resolution", type=int, default=512, help="grid samples per axis")
    rec.add_argument("--format", choices=["obj", "ply", "glb"], default="obj")
    rec.add_argument(
        "--frame",
        choices=["cube", "pixel"],
        default="cube",
        help="cube: the crop's normalised cube as the original release (default); "
        "pixel: input-image pixels (docs/conventions.md)",
    )
    rec.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    rec.add_argument("--rect", help='crop "x y w h" in pixels (all inputs)')
    rec.add_argument("--keypoints", type=Path, help="OpenPose BODY_25 JSON (one input)")
    rec.add_argument(
        "--keypoints-mode",
        choices=["fullbody", "upperbody"],
        default="fullbody",
        help="crop rule for keypoints (the original release's two rules)",
    )
    rec.add_argument("--mask", type=Path, help="person mask image (one input)")
    rec.add_argument(
        "--dense", action="store_true", help="evaluate every grid point (no coarse-to-fine)"
    )
    rec.add_argument(
        "--texture",
        action="store_true",
        help="per-vertex colours from the checkpoint's colour net (pifuhd train color)",
    )
    rec.add_argument(
        "--uv",
        type=int,
        nargs="?",
        const=1024,
        default=0,
        metavar="SIZE",
        help="with --texture: also <stem>_uv.obj/.mtl/.png, a UV atlas of about SIZE^2 texels "
        "(default 1024; needs pifuhd[texture])",
    )
    rec.add_argument(
        "--original-octree",
        action="store_true",
        help="evaluate the grid with the original release's octree (its points and rule)",
    )
    rec.add_argument(
        "--dilation", type=int, default=0, help="coarse-to-fine: cells grown around the surface"
    )
    rec.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="auto: bf16 where the hardware has it (BENCHMARKS.md: error bound), else fp32",
    )
    rec.set_defaults(func=func)


def add_fit_body_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    """``pifuhd fit-body``: photos -> fitted bodies."""
    fit = sub.add_parser(
        "fit-body",
        help="photos -> fitted Anny bodies (<stem>_body.obj/.json/_overlay.png)",
        description="Fit the Anny body to each photo's person, in reconstruct's crop and frame.",
        epilog="example: pifuhd fit-body photos/ -o bodies --frame pixel --all-people",
    )
    fit.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    fit.add_argument(
        "-o", "--out", type=Path, default=Path("results"), help="output folder (default: results)"
    )
    fit.add_argument(
        "--frame", choices=["cube", "pixel"], default="cube", help="as reconstruct (default: cube)"
    )
    fit.add_argument("--rect", help='crop "x y w h" in pixels (all inputs)')
    fit.add_argument("--keypoints", type=Path, help="OpenPose BODY_25 JSON (one input)")
    fit.add_argument("--mask", type=Path, help="person mask image (one input)")
    fit.add_argument(
        "--all-people",
        action="store_true",
        help="fit each person found (<stem>_person<K>_body.*, K=0 the largest); default: the "
        "largest only, with a warning naming the count",
    )
    fit.set_defaults(func=func)


def add_prepare_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    """``pifuhd prepare``: scans -> training data."""
    prep = sub.add_parser("prepare", help="3D scans -> renders and labelled points for training")
    prep.add_argument("scans", type=Path, help="a folder of meshes (or of one folder each)")
    prep.add_argument("--out", type=Path, required=True, help="data folder to write")
    prep.add_argument("--views", type=int, default=36, help="yaw angles per subject (paper: 180)")
    prep.add_argument("--size", type=int, default=1024, help="render size (also writes size/2)")
    prep.add_argument(
        "--presets",
        default="",
        help="extra colour renders under fixed lights, e.g. wild,intermediate,clear",
    )
    prep.add_argument("--up", choices=["auto", "x", "y", "z", "-x", "-y", "-z"], default="auto")
    prep.add_argument("--units", choices=["auto", "m", "cm", "mm"], default="auto")
    prep.add_argument("--surface-samples", type=int, default=100_000, help="per sigma")
    prep.add_argument("--uniform-samples", type=int, default=100_000)
    prep.add_argument("--color-samples", type=int, default=100_000)
    prep.add_argument("--prt-dirs", type=int, default=64, help="rays per vertex for PRT")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument(
        "--bodies",
        choices=["fit", "true", "none"],
        default="fit",
        help="per-view bodies of synthetic subjects: the true body and the one fitted to the "
        "render (fit: about 2-3 s a view), the true body only (true: fast), or none; adding "
        "them to finished subjects renders nothing again",
    )
    prep.add_argument("--workers", type=int, default=1, help="subjects in parallel")
    prep.add_argument("--shard", help="K/N: this machine's share of the subjects (job arrays)")
    prep.set_defaults(func=func)
