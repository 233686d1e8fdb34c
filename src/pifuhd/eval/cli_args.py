"""The ``evaluate`` subcommand: ``pifuhd evaluate --pred P --gt G`` or ``--data DATA -c CKPT``,
with ``--texture`` for the colour metrics (PATD, PIPATD).

Only argument parsing and printing live here; the work is done by ``pifuhd.eval.evaluate``
and ``pifuhd.eval.heldout`` (imported on use, so ``pifuhd --help`` does not load torch).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pifuhd.cli_parsers import add_carving_switches
from pifuhd.errors import PifuhdError

DEFAULT_K = 5
"""PIPATD neighbours when --k is not given: ``pifuhd.eval.color_metrics.DEFAULT_K`` (restated
so that building the parser imports no numerical library; a test keeps them equal)."""


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to an ``add_subparsers()`` object; returns its parser."""
    ev = subparsers.add_parser(
        "evaluate", help="Chamfer, P2S, F-score, IoU, normals (and PATD/PIPATD) vs ground truth"
    )
    ev.add_argument("--pred", type=Path, help="folder of reconstructed meshes")
    ev.add_argument("--gt", type=Path, help="folder of ground-truth meshes")
    ev.add_argument(
        "--data",
        type=Path,
        help="instead of --pred/--gt: reconstruct held-out views of this prepared data with "
        "--checkpoint and score them (and the inflated-silhouette baseline)",
    )
    ev.add_argument("-c", "--checkpoint", type=Path, help="with --data (default: bundled model)")
    ev.add_argument("--subjects", help="with --data: comma-separated names (default: held out)")
    ev.add_argument("--val-fraction", type=float, default=0.1, help="held-out share (--data)")
    ev.add_argument("--split-seed", type=int, default=0, help="seed of the train/val split")
    ev.add_argument("--max-subjects", type=int, default=0, help="score the first N only")
    ev.add_argument("--yaws", default="0,90,180,270", help="views to score (--data)")
    ev.add_argument(
        "--light",
        default="rgb",
        help="with --data: the photos, rgb (random SH light) or a preset: wild, intermediate, "
        "clear",
    )
    ev.add_argument("-r", "--resolution", type=int, default=256, help="grid (--data)")
    ev.add_argument("--device", default="auto")
    ev.add_argument("-o", "--out", type=Path, help="write metrics.csv and summary.md here")
    ev.add_argument(
        "--gt-height-cm",
        type=float,
        default=180.0,
        help="height the ground truth stands for (default 180: the subject frame); "
        "0: files are already in cm",
    )
    ev.add_argument("--samples", type=int, default=10_000, help="surface samples per mesh")
    ev.add_argument(
        "--texture",
        action="store_true",
        help="also PATD and PIPATD of the vertex colours (CIEDE2000; with --data the "
        "checkpoint needs a colour net)",
    )
    ev.add_argument(
        "--k", type=int, default=DEFAULT_K, help=f"PIPATD neighbours (default {DEFAULT_K})"
    )
    ev.add_argument(
        "--body",
        choices=("fit", "true"),
        default="fit",
        help="with --data: the body the model reads, fitted to each photo as for a user, or "
        "the view's true body (an oracle: how much of the error is the fit's)",
    )
    ev.add_argument(
        "--meshes",
        action="store_true",
        help="with --data and --out: also write each view's reconstruction to OUT/meshes/ "
        "(subject@yaw.ply, the ground truth's frame, cm)",
    )
    add_carving_switches(ev.add_argument_group("with --data: the pipeline's guards"))
    ev.set_defaults(func=cmd_evaluate)
    return ev


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score --pred against --gt, or held-out views of --data; 0 on success."""
    from pifuhd.eval.evaluate import evaluate_folders, summary_markdown, write_reports

    if args.k < 1:
        raise PifuhdError(f"--k {args.k}: must be at least 1")
    if args.data is not None:
        return _evaluate_heldout(args)
    if args.pred is None or args.gt is None:
        raise PifuhdError("give --pred and --gt folders, or --data with a --checkpoint")
    height = args.gt_height_cm if args.gt_height_cm > 0 else None
    scores = evaluate_folders(
        args.pred,
        args.gt,
        gt_height_cm=height,
        samples=args.samples,
        texture=args.texture,
        k=args.k,
    )
    for score in scores:
        m = score.metrics
        line = (
            f"{score.name}: chamfer {m.chamfer_cm:.3f} cm, p2s {m.p2s_cm:.3f} cm, "
            f"F@1cm {m.fscore_1cm:.3f}, IoU {m.iou:.3f}, normals {m.normal_consistency:.3f}"
        )
        if score.color is not None:
            line += f", PATD {score.color['patd']:.3f}, PIPATD {score.color['pipatd']:.3f}"
        print(line)
    print(summary_markdown(scores), end="")
    if args.out is not None:
        csv_path, md_path = write_reports(scores, args.out)
        print(f"wrote {csv_path} and {md_path}")
    return 0


def _evaluate_heldout(args: argparse.Namespace) -> int:
    from pifuhd.eval.heldout import evaluate_heldout, heldout_subjects, write_heldout_reports
    from pifuhd.weights import default_checkpoint

    subjects = heldout_subjects(
        args.data, args.subjects, args.val_fraction, args.split_seed, args.max_subjects
    )
    from pifuhd.inference import default_settings

    if args.meshes and args.out is None:
        raise PifuhdError("--meshes needs --out (the meshes go to OUT/meshes/)")
    checkpoint = args.checkpoint or default_checkpoint()
    settings = default_settings(checkpoint).with_overrides(
        carve=args.carve, body_depth=args.body_depth
    )
    yaws = tuple(float(y) for y in args.yaws.split(","))
    bar = tqdm(total=len(subjects) * len(yaws), desc="views", unit="view")
    scores = evaluate_heldout(
        args.data,
        checkpoint,
        subjects,
        yaws=yaws,
        resolution=args.resolution,
        device=args.device,
        samples=args.samples,
        progress=lambda name: bar.update(1),
        texture=args.texture,
        k=args.k,
        light=args.light,
        settings=settings,
        body_source=args.body,
        meshes=Path(args.out) / "meshes" if args.meshes else None,
    )
    bar.close()
    print(write_heldout_reports(scores, str(checkpoint), args.out), end="")
    return 0
