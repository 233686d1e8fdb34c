"""The ``train`` subcommand: ``pifuhd train normals|coarse|fine|all|color --data DATA/ --out RUN/``.

``add_train_parser(subparsers)`` adds it to the ``pifuhd`` command; ``python -m pifuhd.train``
runs it alone (what ``torchrun -m pifuhd.train ...`` starts on each process).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pifuhd.errors import PifuhdError
from pifuhd.train.config import STAGES, TrainConfig, build_config

CONSOLE_LOGGER = "pifuhd.train"


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "train",
        help="train the normal nets, the coarse level, the fine level, all, or the colour net "
        "(docs/training.md)",
    )
    add_train_arguments(parser)
    parser.set_defaults(func=cmd_train)
    return parser


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The train command's arguments (shared by ``pifuhd train`` and ``python -m pifuhd.train``)."""
    parser.add_argument(
        "stage",
        choices=(*STAGES, "avatar", "avatar-hyper"),
        help="what to train (avatar: CAR's canonical model, pifuhd.avatar.train_canonical; "
        "avatar-hyper: CAR's hypernetwork, pifuhd.avatar.hyper)",
    )
    parser.add_argument("--data", type=Path, help="folder written by `pifuhd prepare`")
    parser.add_argument("--out", type=Path, help="run folder (checkpoints, logs, val meshes)")
    parser.add_argument("--config", type=Path, help="settings file: run.json or run.toml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set lr=1e-4 --set batch_size=4 (repeatable)",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--preset", choices=["small", "official", "body"], help="fresh model size")
    start.add_argument(
        "--init", type=Path, help="start from a checkpoint folder, pifuhd.pt, or run folder"
    )
    parser.add_argument("--steps", type=int, help="total optimiser steps")
    parser.add_argument("--resume", action="store_true", help="continue RUN's latest checkpoint")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--vgg-weights", type=Path, help="local VGG19 weights (.pth/.safetensors)")
    parser.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="leave after N steps of this call (checkpointed); continue later with --resume",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: defaults (or the resumed run's saved config) <- --config
    <- --set <- flags."""
    flags: dict[str, Any] = {
        "data": _text(args.data),
        "out": _text(args.out),
        "steps": args.steps,
        "device": args.device,
        "vgg_weights": _text(args.vgg_weights),
        "preset": args.preset,
        "init": _text(args.init),
    }
    if args.preset is not None:
        flags["init"] = ""
    base = None
    saved = None if args.out is None else args.out / "train_config.json"  # state.TRAIN_CONFIG
    if args.resume and saved is not None and saved.is_file():
        base = TrainConfig.from_json(saved.read_text())
    return build_config(args.stage, args.config, args.overrides, flags, base=base)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``train`` from parsed arguments; 0 on success (errors raise PifuhdError)."""
    from pifuhd.train.distributed import dist_from_env
    from pifuhd.train.loop import train

    configure_console(dist_from_env().is_main)
    if args.stop_after is not None and args.stop_after < 1:
        raise PifuhdError(f"--stop-after {args.stop_after}: must be at least 1")
    if args.stage in ("avatar", "avatar-hyper"):
        return train_avatar(args)
    config = config_from_args(args)
    train(config, resume=args.resume, stop_after=args.stop_after)
    return 0


def train_avatar(args: argparse.Namespace) -> int:
    """``pifuhd train avatar|avatar-hyper --data DATA --out RUN [--steps N] [--set k=v]``."""
    from pifuhd.avatar.train_canonical import AvatarTrainConfig, train_canonical

    if args.data is None or args.out is None:
        raise PifuhdError(f"train {args.stage}: give --data (prepared synthetic people) and --out")
    if args.stage == "avatar-hyper":
        from pifuhd.avatar.hyper import meta_train

        settings = dict(item.partition("=")[::2] for item in args.overrides)
        unknown = set(settings) - {"subjects", "lr", "batch"}
        if unknown:
            raise PifuhdError(f"train avatar-hyper: unknown setting {sorted(unknown)[0]!r}")
        meta_train(
            args.data, args.out, args.steps or 2500,
            subjects=int(settings.get("subjects", 200)), lr=float(settings.get("lr", 1e-3)),
            batch=int(settings.get("batch", 2048)), resume=args.resume,
            stop_after=args.stop_after,
        )  # fmt: skip
        return 0
    config = AvatarTrainConfig.with_overrides(args.overrides, args.steps)
    train_canonical(args.data, args.out, config, args.resume, args.stop_after)
    return 0


class TqdmHandler(logging.Handler):
    """Writes log lines through ``tqdm.write`` so they do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def configure_console(main_process: bool = True) -> None:
    """Training log lines on stderr (once per process): INFO on the main process, only
    warnings and errors on the other ranks of a multi-process run."""
    logger = logging.getLogger(CONSOLE_LOGGER)
    if not any(isinstance(h, TqdmHandler) for h in logger.handlers):
        handler = TqdmHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if main_process else logging.WARNING)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pifuhd.train STAGE ...``: the train command alone; exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m pifuhd.train", description="PIFuHD training (docs/training.md)"
    )
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_train(args)
    except PifuhdError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
