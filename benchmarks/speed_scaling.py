"""Our pipeline's wall time per stage, points evaluated and peak memory against resolution.

    python benchmarks/speed_scaling.py CHECKPOINT --resolutions 128,256,512,1024

CHECKPOINT: the official-architecture random checkpoint with a surface that
``benchmarks/vs_reference.py`` writes (``<out>/pifuhd_random.pt``; ``--skip-reference`` makes
only it and our run), or a ``small`` checkpoint (``pifuhd init DIR --preset small
--surface-image tests/assets/person.png``). Each resolution runs in its own process, so its
peak resident memory (``ru_maxrss``, file-backed pages of a memory-mapped checkpoint
included) is its own. Stages:

- checkpoint: ``Reconstructor(...)`` (reading the file, building the model);
- image: loading the photo, the crop, resizing (``load`` + the part of ``encode`` outside the
  networks);
- normal nets, coarse encoder, fine encoder: the networks' forward calls;
- grid: occupancy on the grid (coarse to fine); marching cubes: mesh extraction;
- write: the mesh, normal maps and JSON as ``pifuhd reconstruct`` writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _process_memory import run_sampled  # same folder: run as python3 benchmarks/...
from vs_reference import REPO, ROWS, time_module  # same folder: run as python3 benchmarks/...

STAGES = tuple(row for row in ROWS if row != "vertex colouring")  # ours has no such stage


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--image", type=Path, default=REPO / "tests" / "assets" / "person.png")
    p.add_argument("--rect", help="crop 'x y w h' (default: the automatic crop)")
    p.add_argument("--resolutions", default="128,256,512,1024")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--plain", action="store_true", help="the plain path (fast=False)")
    p.add_argument("--dense", action="store_true", help="dense grid, not coarse to fine")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=Path("speed_scaling_out"))
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """Worker: one reconstruction at ``args.worker``, timed per stage."""
    import resource

    import torch

    from pifuhd.inference import Reconstructor
    from pifuhd.outputs import write_outputs

    torch.set_num_threads(args.threads)
    stages: dict[str, float] = {}
    start = time.perf_counter()
    rec = Reconstructor(
        args.checkpoint,
        device=args.device,
        resolution=args.worker,
        coarse_to_fine=not args.dense,
        precision=args.precision,
        fast=not args.plain,
    )
    stages["checkpoint"] = time.perf_counter() - start
    g = rec.model.netG
    for module in (g.netF, g.netB):
        time_module(module, "normal nets", stages)
    time_module(g.image_filter, "coarse encoder", stages)
    time_module(rec.model.image_filter, "fine encoder", stages)
    result = rec(args.image, rect=args.rect)
    t = result.timings
    nets = sum(stages.get(k, 0.0) for k in ("normal nets", "coarse encoder", "fine encoder"))
    stages["image"] = t["load"] + t["encode"] - nets
    stages["grid"], stages["marching cubes"] = t["grid"], t["mesh"]
    write_start = time.perf_counter()
    write_outputs(result, args.out / f"r{args.worker}", args.image.stem)
    stages["write"] = time.perf_counter() - write_start
    stages["total"] = time.perf_counter() - start
    return {
        "resolution": args.worker,
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "points_evaluated": result.points_evaluated,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "vertices": len(result.mesh.vertices),
        "precision": rec.precision if rec.fast else "fp32 (plain)",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def run_resolution(args: argparse.Namespace, resolution: int) -> dict[str, Any]:
    """This script as a worker process for one resolution; its JSON is the last stdout line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), str(args.checkpoint)]
    cmd += ["--image", str(args.image), "--precision", args.precision, "--out", str(args.out)]
    cmd += ["--threads", str(args.threads), "--device", args.device, "--worker", str(resolution)]
    cmd += [f"--rect={args.rect}"] if args.rect else []
    cmd += ["--plain"] if args.plain else []
    cmd += ["--dense"] if args.dense else []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    print(f"[R={resolution}] {' '.join(cmd)}", flush=True)
    code, stdout, wall, peak = run_sampled(cmd, env)
    lines = stdout.strip().splitlines()
    if code != 0 or not lines:
        raise SystemExit(f"[R={resolution}] failed with exit code {code}")
    info = json.loads(lines[-1])
    info["process_wall_s"] = round(wall, 2)
    info["peak_tree_mb"] = round(max(peak, info["peak_rss_mb"]), 1)
    return info


def print_table(runs: list[dict[str, Any]]) -> None:
    """Stages down, resolutions across."""
    print(f"\n{'wall s':<18}" + "".join(f"{'R=' + str(r['resolution']):>12}" for r in runs))
    for stage in (*STAGES, "total"):
        cells = [r["stages_s"].get(stage) for r in runs]
        print(f"{stage:<18}" + "".join("—".rjust(12) if c is None else f"{c:12.2f}" for c in cells))
    rows = (
        ("process wall s", "process_wall_s", "{:.2f}"),
        ("points evaluated", "points_evaluated", "{:,}"),
        ("points/s in grid", None, "{:,.0f}"),
        ("peak RSS MB", "peak_rss_mb", "{:,.0f}"),
        ("peak tree MB", "peak_tree_mb", "{:,.0f}"),
        ("vertices", "vertices", "{:,}"),
    )
    for label, key, fmt in rows:
        if key is None:
            values = [r["points_evaluated"] / max(r["stages_s"]["grid"], 1e-9) for r in runs]
        else:
            values = [r[key] for r in runs]
        print(f"{label:<18}" + "".join(f"{fmt.format(v):>12}" for v in values))


def main() -> None:
    args = parse_args()
    args.checkpoint, args.image = args.checkpoint.resolve(), args.image.resolve()
    args.out = args.out.resolve()
    if args.worker is not None:
        print(json.dumps(run_one(args)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [run_resolution(args, int(r)) for r in args.resolutions.split(",")]
    print_table(runs)
    result = {"checkpoint": str(args.checkpoint), "image": str(args.image), "runs": runs}
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
