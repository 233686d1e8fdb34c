"""Ours against the original PIFuHD: one image, one checkpoint, one crop, one resolution.

    bash benchmarks/reference_env.sh                     # once: /work/scratch/ref_env
    python3 benchmarks/vs_reference.py --resolution 256 --out /tmp/vs_ref \\
        --ref-python /work/scratch/ref_env/bin/python

Steps, each heavy one in its own process (so peak memory is per process):

1. Checkpoint: the released architecture (preset ``official``, 384.6 M parameters) with
   PyTorch's default initialisation under ``--seed``, given a surface on the test image by
   ``pifuhd.checkpoint.synthetic.give_surface``: with l(p) the fine MLP's raw output logit and
   q its ``--quantile`` over a 64^3 lattice of the cube for this image and crop, only the fine
   MLP's output layer changes, W -> -K W and b -> K (q - b), so the new logit is K (q - l(p))
   and exactly that fraction of the lattice is inside (the issue's "bias = K q" is the same
   when b = 0). It is written by ``save_official`` in the released file layout, plus the four
   run-time options the original's ``Reconstructor`` reads from the file's ``opt`` (the
   release stores its full option set). Reused while seed, K, quantile, image and crop match.
2. The original (``benchmarks/_reference_driver.py`` run by ``--ref-python``) with
   ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` and the rect file of the crop.
3. Ours (``pifuhd.inference.Reconstructor``, coarse to fine, then ``write_outputs`` as the CLI),
   fed the original's inputs (the photo as it is, the crop padded with black, resized by
   ``--resize``) with the guards the original lacks (carving, fragment dropping) off.

Both use ``--threads`` torch threads. Both crops are the same ``x y w h`` (``--rect``, by default
what ``pifuhd.io.crops.resolve_crop`` picks for the image). Frames: the original writes vertices
``calib^-1 @ M @ index`` with ``calib = diag(1, -1, 1)`` and M the grid's index -> [-1, 1) map:
the normalised cube, x right, y up, z toward the viewer, which is our ``frame="cube"``; so
the vertex sets are compared as they are (the mapping is the identity; the result JSON also
gives the distance with y negated as a check). Its lattice samples y at 1 - 2j/R where ours
samples -1 + 2j/R: the same lattice, one voxel apart at the ends. The symmetric Chamfer
distance is the mean of the two directed mean nearest-vertex distances, in voxels of 2/R;
``interior`` keeps vertices at least 3 voxels inside the cube, away from where the two differ
by construction (the original never evaluates the last sample of each axis and does not pad
the volume before marching cubes). Inside, the meshes differ only where the network inputs do:
the original resizes the uint8 crop with ``cv2.resize`` (bilinear, no antialiasing), which
``--resize bilinear`` (the default) reproduces bit for bit (``crop_image(..., resize=
"bilinear")``); ``--resize antialias`` gives ours PIL's antialiased bilinear on float32 instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _mesh_distance import compare_meshes  # same folder: run as python3 benchmarks/...
from _process_memory import run_sampled
from _timing import gpu_memory, time_module

from pifuhd.io.resize import RESIZE_MODES

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "_reference_driver.py"
STUB = "stub"  # torchvision stand-in folder inside the reference venv (reference_env.sh)
CHECKPOINT = "pifuhd_random.pt"
CHECKPOINT_RESIZE = "bilinear"  # the surface is given on the original's inputs, any --resize
# Options the original's Reconstructor and HGPIFuMRNet read from the checkpoint's ``opt``
# besides the architecture; values as in the release (results go to <results>/<name>/recon).
RUNTIME_OPTIONS = {
    "name": "pifuhd_final",
    "checkpoints_path": "./checkpoints",
    "use_compose": False,
    "train_full_pifu": False,
}
ROWS = (
    "checkpoint",
    "image",
    "normal nets",
    "coarse encoder",
    "fine encoder",
    "grid",
    "marching cubes",
    "vertex colouring",
    "write",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line (``--worker`` is internal: the per-process steps)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=Path, default=REPO / "tests" / "assets" / "person.png")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--out", type=Path, default=Path("vs_reference_out"))
    p.add_argument("--ref-python", type=Path, default=Path("/work/scratch/ref_env/bin/python"))
    p.add_argument("--skip-reference", action="store_true", help="run ours only")
    p.add_argument(
        "--reuse-reference",
        action="store_true",
        help="take the original's run from <out>/results.json (same checkpoint and resolution) "
        "instead of running it again",
    )
    p.add_argument(
        "--original-octree",
        action="store_true",
        help="ours evaluates the original's octree (its points and rule) instead of our "
        "coarse-to-fine grid",
    )
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--tag", default="", help="suffix of our output folder and results file")
    p.add_argument("--K", type=float, default=4000.0, help="gain of the fine output layer")
    p.add_argument("--quantile", type=float, default=0.1, help="fraction of the lattice inside")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rect", help="crop 'x y w h'; default: our automatic crop of the image")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--resize",
        default="bilinear",
        choices=RESIZE_MODES,
        help="ours: how the crop is resized to the networks' inputs (crop_image's modes; "
        "'bilinear' is the original's)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="ours: 'cpu', 'cuda' or 'cuda:N' (grid and marching cubes then stay on the GPU); "
        "the original picks CUDA by itself when its torch has it",
    )
    p.add_argument(
        "--on-device",
        action="store_true",
        help="ours: run the grid and marching cubes as tensors even on the CPU (the GPU path)",
    )
    p.add_argument(
        "--warmup",
        action="store_true",
        help="ours: reconstruct once untimed first (a GPU's first call initialises CUDA "
        "and picks kernels); the checkpoint stage is then the load alone",
    )
    p.add_argument("--worker", choices=("checkpoint", "ours"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def default_rect(image: Path) -> str:
    """The crop our pipeline picks for ``image`` (side files, alpha, foreground), as 'x y w h'."""
    from pifuhd.io.crops import resolve_crop
    from pifuhd.io.images import load_image

    crop, _ = resolve_crop(image, load_image(image))
    return " ".join(str(v) for v in crop.as_tuple())


def checkpoint_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the random checkpoint depends on (its cache key)."""
    return {
        "preset": "official",
        "seed": args.seed,
        "K": args.K,
        "quantile": args.quantile,
        "lattice": 64,
        "image_sha256": hashlib.sha256(args.image.read_bytes()).hexdigest(),
        "rect": args.rect,
        "inputs": f"original, {CHECKPOINT_RESIZE}",
    }


def make_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """Worker: random official model with a surface, saved in the official layout."""
    import torch

    from pifuhd.checkpoint.official import save_official
    from pifuhd.checkpoint.synthetic import give_surface, random_model
    from pifuhd.config import preset
    from pifuhd.io.crops import parse_rect
    from pifuhd.io.images import load_image

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = random_model(preset("official"), seed=args.seed)
    rec = resized_reconstructor(CHECKPOINT_RESIZE)(
        model, device="cpu", resolution=64, precision="fp32"
    )
    with torch.inference_mode():
        features = rec.encode(load_image(args.image), parse_rect(args.rect))
    q = give_surface(model, features, quantile=args.quantile, gain=args.K, grid=64)
    path = save_official(model, args.out / CHECKPOINT)
    add_runtime_options(path)
    return {"q": q, "seconds": round(time.perf_counter() - start, 2), **checkpoint_settings(args)}


def add_runtime_options(path: Path) -> None:
    """Add ``RUNTIME_OPTIONS`` to the fine-level ``opt`` Namespace of an official file."""
    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        data = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in RUNTIME_OPTIONS.items():
        setattr(data["opt"], key, value)
    tmp = path.with_suffix(".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    """Worker: our reconstruction of the image with the checkpoint, timed per stage."""
    import resource

    import torch

    from pifuhd.outputs import write_outputs

    torch.set_num_threads(args.threads)
    stages: dict[str, float] = {}
    start = time.perf_counter()
    rec = resized_reconstructor(args.resize)(
        args.out / CHECKPOINT,
        device=args.device,
        resolution=args.resolution,
        precision=args.precision,
        original_octree=args.original_octree,
        on_device=True if args.on_device else None,
        settings=original_settings(args.resize),
    )
    stages["checkpoint"] = time.perf_counter() - start
    if args.warmup:
        rec(args.image, rect=args.rect, frame="cube")
        if rec.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(rec.device)
        start = time.perf_counter() - stages["checkpoint"]  # the total: load + timed run
    g = rec.model.netG
    for module, name in ((g.netF, "normal nets"), (g.netB, "normal nets")):
        time_module(module, name, stages)
    time_module(g.image_filter, "coarse encoder", stages)
    time_module(rec.model.image_filter, "fine encoder", stages)
    result = rec(args.image, rect=args.rect, frame="cube")
    t = result.timings
    nets = sum(stages.get(k, 0.0) for k in ("normal nets", "coarse encoder", "fine encoder"))
    stages["image"] = t["load"] + t["encode"] - nets
    stages["grid"], stages["marching cubes"] = t["grid"], t["mesh"]
    write_start = time.perf_counter()
    mesh = write_outputs(result, args.out / f"ours{args.tag}", args.image.stem)[0]
    stages["write"] = time.perf_counter() - write_start
    stages["total"] = time.perf_counter() - start
    return {
        "implementation": "ours (pifuhd, "
        + ("the original's octree" if args.original_octree else "coarse to fine")
        + f", precision {rec.precision}, resize {args.resize})",
        "resize": args.resize,
        "stages_s": {k: round(v, 4) for k, v in stages.items()},
        "points_evaluated": result.points_evaluated,
        "colouring_points": 0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mesh": str(mesh),
        "vertices": len(result.mesh.vertices),
        "faces": len(result.mesh.faces),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(rec.device)
        + (f" ({torch.cuda.get_device_name(rec.device)})" if rec.device.type == "cuda" else ""),
        "on_device": rec.on_device,
        "warmup": args.warmup,
        **gpu_memory(rec.device),
    }


def resized_reconstructor(resize: str) -> type:
    """``Reconstructor`` fed the original's network images: the crop padded with black, the
    photo as it is (no person mask), resized by ``crop_image(..., resize=resize)``."""
    from pifuhd.inference import Reconstructor, to_network_image
    from pifuhd.io.crops import CropRect, crop_image
    from pifuhd.io.images import LoadedImage

    class OriginalInputs(Reconstructor):
        def network_images(
            self, image: LoadedImage, crop: CropRect, mask: Any = None
        ) -> tuple[Any, Any]:
            config = self.model.config
            coarse, fine = (
                to_network_image(crop_image(image.rgb, crop, size, resize), self.device)
                for size in (config.coarse.image_size, config.fine.image_size)
            )
            return coarse, fine

    return OriginalInputs


def original_settings(resize: str) -> Any:
    """Our pipeline's guards off, as the original has none: no carving, no fragment dropping."""
    from pifuhd.inference_settings import InferenceSettings

    return InferenceSettings(background="keep", carve=False, fragment_share=0.0, resize=resize)


def run_process(cmd: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
    """Run one step in a subprocess; its JSON is the last stdout line. Adds the process wall
    and ``peak_tree_mb``: the larger of its ``peak_rss_mb`` and its process tree's sampled
    peak (``_process_memory``: ours marches cubes' upper slab in a forked child)."""
    print(f"[{label}] {' '.join(cmd)}", flush=True)
    code, stdout, wall, peak = run_sampled(cmd, env)
    lines = stdout.strip().splitlines()
    if code != 0 or not lines:
        raise SystemExit(f"[{label}] failed with exit code {code}")
    info = json.loads(lines[-1])
    info["process_wall_s"] = round(wall, 2)
    info["peak_tree_mb"] = round(max(peak, info.get("peak_rss_mb", 0.0)), 1)
    return info


def base_env(threads: int) -> dict[str, str]:
    """Environment of the subprocesses: the given thread count everywhere."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    return env


def worker_cmd(args: argparse.Namespace, worker: str) -> list[str]:
    """This script as a worker with the same settings."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", worker]
    cmd += ["--image", str(args.image), "--out", str(args.out), f"--rect={args.rect}"]
    cmd += ["--resolution", str(args.resolution), "--K", str(args.K)]
    cmd += ["--quantile", str(args.quantile), "--seed", str(args.seed)]
    cmd += ["--precision", args.precision, f"--tag={args.tag}"]
    cmd += ["--original-octree"] if args.original_octree else []
    cmd += ["--device", args.device] + (["--warmup"] if args.warmup else [])
    cmd += ["--on-device"] if args.on_device else []
    cmd += ["--resize", args.resize]
    return [*cmd, "--threads", str(args.threads)]


def ensure_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """Make the checkpoint unless one with the same settings is there."""
    meta = args.out / (CHECKPOINT + ".json")
    if (args.out / CHECKPOINT).exists() and meta.exists():
        saved = json.loads(meta.read_text())
        if all(saved.get(k) == v for k, v in checkpoint_settings(args).items()):
            print(f"[checkpoint] reusing {args.out / CHECKPOINT} (q = {saved['q']:.6g})")
            return saved
    info = run_process(worker_cmd(args, "checkpoint"), base_env(args.threads), "checkpoint")
    meta.write_text(json.dumps(info, indent=1) + "\n")
    return info


def run_reference(args: argparse.Namespace) -> dict[str, Any]:
    """The original in the reference environment."""
    env = base_env(args.threads)
    env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    stub = args.ref_python.absolute().parent.parent / STUB  # not resolve(): a symlink
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(stub), env.get("PYTHONPATH")) if p)
    cmd = [str(args.ref_python), str(DRIVER), "--checkpoint", str(args.out / CHECKPOINT)]
    cmd += ["--image", str(args.image), f"--rect={args.rect}", "--work", str(args.out / "original")]
    cmd += ["--resolution", str(args.resolution), "--threads", str(args.threads)]
    return run_process(cmd, env, "original")


def reused_reference(args: argparse.Namespace) -> dict[str, Any]:
    """The original's run recorded in ``<out>/results.json`` by an earlier full run."""
    path = args.out / "results.json"
    if not path.is_file():
        raise SystemExit(f"--reuse-reference: {path} does not exist; run once without it")
    saved = json.loads(path.read_text())
    original = saved.get("runs", {}).get("original")
    if original is None or saved.get("resolution") != args.resolution:
        raise SystemExit(f"--reuse-reference: {path} has no original run at {args.resolution}")
    if not Path(original["mesh"]).is_file():
        raise SystemExit(f"--reuse-reference: the original's mesh {original['mesh']} is gone")
    print(f"[original] reusing the run recorded in {path}")
    return original


def print_table(runs: dict[str, dict[str, Any]]) -> None:
    """Stage times, points, memory and mesh sizes side by side."""
    names = list(runs)
    print(f"\n{'stage (wall s)':<22}" + "".join(f"{n:>14}" for n in names))
    for row in (*ROWS, "other", "total"):
        cells = []
        for run in runs.values():
            s = run["stages_s"]
            value = s.get(row)
            if row == "other":
                value = s["total"] - sum(s.get(r, 0.0) for r in ROWS)
            cells.append("—" if value is None else f"{value:.2f}")
        print(f"{row:<22}" + "".join(f"{c:>14}" for c in cells))
    extra = (
        ("process wall s", "process_wall_s", "{:.2f}"),
        ("points evaluated", "points_evaluated", "{:,}"),
        ("colouring points", "colouring_points", "{:,}"),
        ("peak RSS MB", "peak_rss_mb", "{:,.0f}"),
        ("peak process tree MB", "peak_tree_mb", "{:,.0f}"),
        ("peak GPU MB", "peak_gpu_mb", "{:,.0f}"),
        ("vertices", "vertices", "{:,}"),
        ("faces", "faces", "{:,}"),
    )
    for label, key, fmt in extra:
        cells = ("—" if r.get(key) is None else fmt.format(r[key]) for r in runs.values())
        print(f"{label:<22}" + "".join(f"{c:>14}" for c in cells))


def main() -> None:
    """Checkpoint, original, ours, comparison; prints a table and writes results.json."""
    args = parse_args()
    args.image = args.image.resolve()
    args.out = args.out.resolve()
    if args.worker is not None:
        work = {"checkpoint": make_checkpoint, "ours": run_ours}[args.worker]
        print(json.dumps(work(args)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    args.rect = args.rect or default_rect(args.image)
    print(f"image {args.image}, crop {args.rect}, resolution {args.resolution}")
    checkpoint = ensure_checkpoint(args)
    runs: dict[str, dict[str, Any]] = {}
    if args.reuse_reference:
        runs["original"] = reused_reference(args)
    elif not args.skip_reference:
        runs["original"] = run_reference(args)
    runs["ours"] = run_process(worker_cmd(args, "ours"), base_env(args.threads), "ours")
    result: dict[str, Any] = {
        "image": str(args.image),
        "rect": args.rect,
        "resolution": args.resolution,
        "resize": args.resize,
        "checkpoint": checkpoint,
        "runs": runs,
    }
    print_table(runs)
    if "original" in runs:
        stats = compare_meshes(
            Path(runs["ours"]["mesh"]), Path(runs["original"]["mesh"]), args.resolution
        )
        result["mesh_distance"] = stats
        print(
            f"\nChamfer (voxels): {stats['chamfer_vox']:.4f} all vertices, "
            f"{stats['interior_chamfer_vox']:.4f} interior; max {stats['max_vox']:.3g}; "
            f"{stats['ours_within_0.01_vox']:.1%} of ours / "
            f"{stats['original_within_0.01_vox']:.1%} of the original's vertices within 0.01"
        )
    path = args.out / f"results{args.tag}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
