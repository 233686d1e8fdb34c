"""Argument parsers of the longer ``pifuhd`` subcommands (``cli.py`` wires them to their
functions, so this module imports nothing of the package)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_reconstruct_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    """``pifuhd reconstruct``: photos -> meshes."""
    rec = sub.add_parser(
        "reconstruct",
        help="photos -> meshes",
        description="Reconstruct each photo's person as a closed mesh. Without --checkpoint the "
        "bundled default model is used (its card: src/pifuhd/weights/default/MODEL_CARD.md).",
    )
    rec.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    rec.add_argument(
        "-c",
        "--checkpoint",
        type=Path,
        help="pifuhd.pt or a checkpoint folder (default: the bundled model)",
    )
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
    add_texture_arguments(rec)
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
    rec.add_argument(
        "--all-people",
        action="store_true",
        help="one mesh per person found (<stem>_person<K>.*, K = 0 the largest); otherwise "
        "the largest person, with a warning naming the count",
    )
    guards = rec.add_argument_group(
        "pipeline guards (default: what the checkpoint's config.json records; "
        "pifuhd.inference_settings)"
    )
    guards.add_argument(
        "--background",
        choices=["keep", "fill"],
        help="fill: replace the photo outside the person mask by a flat colour (this "
        "project's models); keep: feed the photo as it is (the official model)",
    )
    add_carving_switches(guards)
    guards.add_argument(
        "--carve-margin", type=float, help="mask dilation, as a share of the crop side"
    )
    guards.add_argument(
        "--body-margin", type=float, help="how far (cube units) the surface may lie off the body"
    )
    guards.add_argument(
        "--body-slope", type=float, help="extra margin per unit of sideways distance from it"
    )
    guards.add_argument(
        "--fragment-share",
        type=float,
        help="drop mesh pieces with fewer faces than this share of the largest piece and "
        "farther than --fragment-gap from it (0 keeps every piece)",
    )
    guards.add_argument("--fragment-gap", type=float, help="in cube units (2 = the crop side)")
    guards.add_argument(
        "--refine",
        type=int,
        metavar="N",
        help="iterations moving the visible surface to follow the predicted normal maps "
        "(0: off; pifuhd.geometry.normal_refine)",
    )
    guards.add_argument(
        "--resize",
        choices=["antialias", "bilinear"],
        help="how the crop shrinks to the networks' sizes (bilinear: without antialiasing, "
        "bit for bit as the original release)",
    )
    rec.set_defaults(func=func)


def add_carving_switches(parser: Any) -> None:
    """``--carve/--no-carve`` and ``--body-depth/--no-body-depth`` (None: the checkpoint's
    setting), shared by ``reconstruct`` and ``evaluate --data``."""
    parser.add_argument(
        "--carve",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="points outside the dilated person mask, or near the cube's faces, are outside "
        "(default: the checkpoint's setting)",
    )
    parser.add_argument(
        "--body-depth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --carve: also bound the depth around the body fitted to the photo "
        "(default: the checkpoint's setting)",
    )


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


def add_texture_arguments(parser: argparse.ArgumentParser) -> None:
    """``--texture [blend|photo|net]`` and ``--delight`` (``pifuhd.surface_colors``)."""
    parser.add_argument(
        "--texture",
        nargs="?",
        const="blend",
        default=None,
        choices=("blend", "photo", "net"),
        metavar="MODE",
        help="per-vertex colours: blend (the default MODE: the photo where the camera sees "
        "the surface, the checkpoint's colour net elsewhere, leaning on the net the harsher "
        "the photo's light), photo (no colour net needed) or net",
    )
    parser.add_argument(
        "--delight",
        action="store_true",
        help="with --texture photo or blend: divide the photo's colours by the shading of a "
        "light fitted to them",
    )


EXAMPLES = {
    "reconstruct": "pifuhd reconstruct photo.jpg -o results -r 256\n"
    "  pifuhd reconstruct photos/ -o results --all-people --frame pixel --format glb",
    "fit-body": "pifuhd fit-body photos/ -o bodies --frame pixel --all-people",
    "convert": "pifuhd convert pifuhd.pt checkpoints/official",
    "info": "pifuhd info checkpoints/official --json",
    "init": "pifuhd init /tmp/tiny --preset small --seed 0 --surface-image examples/person.png",
    "prepare": "pifuhd prepare scans200 --out data200 --views 12 --presets wild,intermediate,clear",
    "synth": "pifuhd synth 200 --out scans200 --seed 1000",
    "evaluate": "pifuhd evaluate --data data200 -r 256\n"
    "  pifuhd evaluate --pred results --gt scans",
    "demo": "pifuhd demo -o demo -r 256",
    "serve": "pifuhd serve            # then open http://127.0.0.1:7860/\n"
    "  pifuhd serve --port 8080 --checkpoint runs/fine/best",
    "train": "pifuhd train fine --data data200 --out runs/fine --preset small --steps 2000\n"
    "  pifuhd train fine --out runs/fine --resume",
}
"""One or two example command lines per subcommand, shown at the end of its --help."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option's help, and the examples epilog kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = action.default is None or action.default is False
        if quiet or "default" in text or action.default is argparse.SUPPRESS:
            return text  # nothing worth saying, or the help already says it
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text  # a required positional
        return f"{text} (default: %(default)s)".lstrip()


def finish_help(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand the defaults-showing formatter and its ``EXAMPLES`` epilog."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            sub.formatter_class = HelpFormatter
            if name in EXAMPLES and not sub.epilog:
                sub.epilog = "example:\n  " + EXAMPLES[name]
            for option in sub._actions:
                shown = (
                    option.default not in (None, argparse.SUPPRESS) and option.default is not False
                )
                if option.help is None and option.option_strings and shown:
                    option.help = "(default: %(default)s)"
            finish_help(sub)
