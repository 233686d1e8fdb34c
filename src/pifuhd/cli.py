"""The ``pifuhd`` command: thin argument parsing over library functions.

Exit codes: 0 success, 1 a failure (bad input, bad checkpoint, any image of a batch failed),
2 bad command-line usage.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pifuhd import __version__
from pifuhd.avatar.cli_args import add_avatar_parsers
from pifuhd.cli_common import input_images, print_batch
from pifuhd.cli_parsers import (
    add_fit_body_parser,
    add_prepare_parser,
    add_reconstruct_parser,
    finish_help,
)
from pifuhd.errors import PifuhdError
from pifuhd.eval.cli_args import add_evaluate_parser
from pifuhd.train.cli_args import add_train_parser
from pifuhd.web.cli_args import add_serve_parser

log = logging.getLogger("pifuhd")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except PifuhdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def configure_logging(verbose: bool) -> None:
    """Warnings from everything; with ``-v`` also pifuhd's own info and debug lines (not
    those of the libraries under it, such as Pillow's PNG chunk reader)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pifuhd").setLevel(logging.DEBUG if verbose else logging.WARNING)


def run() -> None:
    """The console entry point: :func:`main`, then a quick exit.

    Before the interpreter shuts down, every object left is frozen out of the garbage
    collector (``gc.freeze``): its final collections over torch's and MediaPipe's many module
    objects took about 0.9 s of a 10 s ``pifuhd reconstruct`` (``BENCHMARKS.md``). Exit
    handlers still run; nothing is skipped but those collections.
    """
    code = main()
    gc.freeze()
    raise SystemExit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pifuhd", description="PIFuHD: a 3D mesh of a clothed person from one photo."
    )
    parser.add_argument("--version", action="version", version=f"pifuhd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    add_reconstruct_parser(sub, cmd_reconstruct)
    add_fit_body_parser(sub, cmd_fit_body)
    add_avatar_parsers(sub)

    conv = sub.add_parser("convert", help="official pifuhd.pt -> native checkpoint folder")
    conv.add_argument("source", type=Path)
    conv.add_argument("out", type=Path)
    conv.set_defaults(func=cmd_convert)

    info = sub.add_parser("info", help="configuration and parameter counts of a checkpoint")
    info.add_argument("checkpoint", type=Path)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)

    init = sub.add_parser("init", help="write a random-weight checkpoint (tests, benchmarks)")
    init.add_argument("out", type=Path)
    init.add_argument("--preset", choices=["small", "official"], default="small")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument(
        "--surface-image",
        type=Path,
        help="rescale the output layer so the field has a surface for this image's crop",
    )
    init.add_argument("--official-format", action="store_true", help="write a pifuhd.pt file")
    init.set_defaults(func=cmd_init)

    add_prepare_parser(sub, cmd_prepare)

    syn = sub.add_parser("synth", help="synthetic clothed people (Anny body model) as scans")
    syn.add_argument("count", type=int, help="number of people")
    syn.add_argument("--out", type=Path, required=True, help="folder of person_NNNNN/ meshes")
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--start", type=int, default=0, help="index of the first person")
    syn.set_defaults(func=cmd_synth)

    add_evaluate_parser(sub)
    demo = sub.add_parser("demo", help="synthetic person -> photo -> mesh -> metrics, in one go")
    demo.add_argument("-o", "--out", type=Path, default=Path("demo"), help="output folder")
    demo.add_argument("-c", "--checkpoint", type=Path, help="default: the bundled model")
    demo.add_argument("-r", "--resolution", type=int, default=256)
    demo.add_argument("--seed", type=int, default=None, help="another held-out person")
    demo.add_argument("--device", default="auto")
    demo.set_defaults(func=cmd_demo)
    add_train_parser(sub)
    add_serve_parser(sub)
    finish_help(parser)
    return parser


class GridBar:
    """The grid stage's progress line, e.g. ``grid: 1.2M / 1.3M points, level 3 [00:04]``:
    points evaluated out of the points scheduled so far. A coarse-to-fine evaluation schedules
    its levels one after another, so the total grows (once per level) and there is no ETA.
    Called as the reconstruction's ``progress(stage, done, scheduled)``."""

    FORMAT = "{desc}: {n_fmt} / {total_fmt} points{postfix} [{elapsed}]"

    def __init__(self, file: Any = None) -> None:
        self.file = file
        """Where the line goes (``None``: stderr)."""
        self.bar: tqdm | None = None
        self.level = 0

    def __call__(self, stage: str, done: int, scheduled: int) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=scheduled,
                desc=stage,
                unit="pt",
                unit_scale=True,
                bar_format=self.FORMAT,
                leave=False,
                file=self.file,
            )
            self.level = 0
        if scheduled != self.bar.total or self.level == 0:
            self.bar.total = scheduled
            self.level += 1
            self.bar.set_postfix_str(f"level {self.level}", refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """End the current line (before the next photo)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from pifuhd.inference import Reconstructor, default_settings
    from pifuhd.outputs import reconstruct_files

    if args.checkpoint is None:
        from pifuhd.weights import default_checkpoint

        args.checkpoint = default_checkpoint()
    images = input_images(args)
    settings = default_settings(args.checkpoint).with_overrides(
        background=args.background,
        carve=args.carve,
        carve_margin=args.carve_margin,
        body_depth=args.body_depth,
        body_margin=args.body_margin,
        body_slope=args.body_slope,
        fragment_share=args.fragment_share,
        fragment_gap=args.fragment_gap,
        resize=args.resize,
        refine=args.refine,
    )
    reconstructor = Reconstructor(
        args.checkpoint,
        settings=settings,
        device=args.device,
        resolution=args.resolution,
        coarse_to_fine=not args.dense,
        texture=args.texture is not None or args.uv > 0,
        texture_mode=args.texture or "blend",
        delight=args.delight,
        dilation=args.dilation,
        precision=args.precision,
        original_octree=args.original_octree,
    )
    grid_bar = GridBar()

    def on_start(image: Path) -> None:
        grid_bar.close()
        print(f"reconstructing {image}", file=sys.stderr)

    reports = reconstruct_files(
        reconstructor,
        images,
        args.out,
        fmt=args.format,
        frame=args.frame,
        rect=args.rect,
        keypoints=args.keypoints,
        mask=args.mask,
        keypoints_mode=args.keypoints_mode,
        on_start=on_start,
        progress=grid_bar,
        uv_size=args.uv,
        all_people=args.all_people,
    )
    grid_bar.close()
    return print_batch(reports)


def cmd_fit_body(args: argparse.Namespace) -> int:
    from pifuhd.fit_outputs import fit_body_files

    images = input_images(args)
    reports = fit_body_files(
        images,
        args.out,
        rect=args.rect,
        mask=args.mask,
        keypoints=args.keypoints,
        frame=args.frame,
        all_people=args.all_people,
        on_start=lambda image: print(f"fitting {image}", file=sys.stderr),
    )
    return print_batch(reports)


def cmd_convert(args: argparse.Namespace) -> int:
    from pifuhd.checkpoint import load_official, save_native

    model, meta = load_official(args.source)
    save_native(model, args.out, metadata={"converted_from": str(args.source), **meta})
    print(f"wrote {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from pifuhd.checkpoint import has_color, load_checkpoint, load_color
    from pifuhd.models.summary import parameter_counts

    model, meta = load_checkpoint(args.checkpoint)
    counts = parameter_counts(model)
    color = load_color(args.checkpoint)[0] if has_color(args.checkpoint) else None
    if color is not None:
        counts["color_net (color/)"] = sum(p.numel() for p in color.parameters())
    if args.json:
        doc = {"config": model.config.to_dict(), "parameters": counts, "metadata": meta}
        doc["color"] = None if color is None else color.config.to_dict()
        print(json.dumps(doc, indent=2, sort_keys=True, default=str))
        return 0
    print(f"checkpoint: {args.checkpoint}")
    print(model.config.to_json())
    if color is not None:
        print(f"colour net:\n{color.config.to_json()}")
    print("parameters:")
    for name, count in counts.items():
        print(f"  {name:<28} {count:>13,}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from pifuhd.checkpoint import save_native, save_official
    from pifuhd.checkpoint.synthetic import give_surface, random_model
    from pifuhd.config import preset
    from pifuhd.inference import Reconstructor
    from pifuhd.inference_settings import NATIVE_SETTINGS, OFFICIAL_SETTINGS
    from pifuhd.io.images import load_image
    from pifuhd.io.people import find_people

    model = random_model(preset(args.preset), seed=args.seed)
    meta: dict[str, object] = {"source": "random", "preset": args.preset, "seed": args.seed}
    if args.surface_image is not None:
        image = load_image(args.surface_image)
        person = find_people(args.surface_image, image)[0]
        # the network inputs the written checkpoint will get (its format's pipeline settings)
        settings = OFFICIAL_SETTINGS if args.official_format else NATIVE_SETTINGS
        rec = Reconstructor(model, device="cpu", precision="fp32", settings=settings)
        features = rec.encode(image, person.crop, person.mask)
        meta["surface_threshold"] = give_surface(model, features)
        meta["surface_image"] = str(args.surface_image)
    if args.official_format:
        save_official(model, args.out)
    else:
        save_native(model, args.out, metadata=meta)
    print(f"wrote {args.out}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from pifuhd.data.prepare import PrepareConfig, SubjectResult, parse_shard, prepare

    presets = tuple(p.strip() for p in args.presets.split(",") if p.strip())
    config = PrepareConfig(
        views=args.views,
        size=args.size,
        presets=presets,
        surface_samples=args.surface_samples,
        uniform_samples=args.uniform_samples,
        color_samples=args.color_samples,
        prt_dirs=args.prt_dirs,
        seed=args.seed,
        up=args.up,
        units=args.units,
        bodies=args.bodies,
    )
    shard = parse_shard(args.shard)
    bar = tqdm(desc="subjects", unit="subject")

    def progress(result: SubjectResult) -> None:
        bar.update(1)
        if result.status == "failed":
            tqdm.write(f"error: {result.error}", file=sys.stderr)

    results = prepare(
        args.scans, args.out, config, workers=args.workers, shard=shard, progress=progress
    )
    bar.close()
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    print(
        f"{counts['done']} prepared, {counts['skipped']} already complete, "
        f"{counts['failed']} failed -> {args.out}"
    )
    return 1 if counts["failed"] else 0


def cmd_synth(args: argparse.Namespace) -> int:
    from pifuhd.synth.people import synth_people

    if args.count < 1:
        raise PifuhdError("count must be at least 1")
    paths = synth_people(args.count, args.out, seed=args.seed, start=args.start, progress=True)
    print(f"{len(paths)} people in {args.out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from pifuhd.demo import DEMO_SEED, run_demo

    start = time.perf_counter()
    result = run_demo(
        args.out,
        checkpoint=args.checkpoint,
        seed=DEMO_SEED if args.seed is None else args.seed,
        resolution=args.resolution,
        device=args.device,
        stage=lambda name: print(f"[demo] {name}", file=sys.stderr),
    )
    m, b = result.metrics, result.baseline
    print(f"{'(arrow: better way)':24}{'model':>10}{'baseline':>10}  better")
    for key, label, lower in (
        ("chamfer_cm", "Chamfer (cm) ↓", True),
        ("p2s_cm", "P2S (cm) ↓", True),
        ("fscore_1cm", "F-score @1cm ↑", False),
        ("normal_consistency", "normal consistency ↑", False),
        ("iou", "volume IoU ↑", False),
    ):
        ours, theirs = getattr(m, key), getattr(b, key)
        wins = ours < theirs if lower else ours > theirs
        print(f"{label:24}{ours:>10.3f}{theirs:>10.3f}  {'model' if wins else 'baseline'}")
    print(f"wrote {', '.join(str(f) for f in result.files)}")
    print(f"demo took {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
