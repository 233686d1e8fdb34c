"""Run the ORIGINAL PIFuHD on one image and report per-stage wall time as JSON.

Run by ``benchmarks/vs_reference.py`` with the reference environment's python (made by
``benchmarks/reference_env.sh``), ``PYTHONPATH`` holding its torchvision stand-in and
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (the original calls ``torch.load`` without
``weights_only`` on a file holding ``argparse.Namespace`` objects). It imports the original
from its own install (PyPI ``pifu-hd``, module ``PIFuHD``) and calls it the way its command
line (``PIFuHD/__main__.py --use_rect``) does: ``BaseOptions().parse(...)``,
``EvalWRectDataset(opt)`` (every image of a folder with an ``<stem>_rect.txt`` beside it),
``Reconstructor(opt).evaluate(dataset)``. Nothing of it is edited; its functions and methods
are wrapped from outside to time them:

==================  ============================================================
stage               what is timed
==================  ============================================================
checkpoint read     ``torch.load`` of the file
model build         the rest of ``Reconstructor.__init__`` (build, init, load)
image               reading the folder, crop, ``cv2.resize`` to 512/1024, tensors
normal nets         ``netG.netF.forward`` + ``netG.netB.forward`` (512^2)
coarse encoder      ``netG.image_filter.forward`` (4-stack hourglass)
fine encoder        ``netMR.filter_local`` (normal upsampling + 1-stack hourglass)
grid                ``mesh_util.reconstruction`` less marching cubes (float64 grid,
                    octree evaluation ``eval_grid_octree``)
marching cubes      ``skimage.measure.marching_cubes`` called from ``mesh_util``
vertex colouring    ``netMR.calc_normal`` (4 network evaluations per vertex)
write image         ``cv2.imwrite`` of the input and normal maps
write mesh          ``save_obj_mesh_with_color``
==================  ============================================================

Points evaluated are those passed to ``netMR.query`` (the grid); the colouring's are counted
apart. Peak memory is ``ru_maxrss`` of this process. The JSON is the last line on stdout;
everything the original prints goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import shutil
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

TOTAL_KEY = "total"
SHARED = (
    "checkpoint",
    "image",
    "normal nets",
    "coarse encoder",
    "fine encoder",
    "marching cubes",
    "vertex colouring",
    TOTAL_KEY,
)


class Stages:
    """Accumulated wall seconds per stage name, and counters."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to stage ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def count(self, name: str, n: int) -> None:
        """Add ``n`` to counter ``name``."""
        self.counts[name] = self.counts.get(name, 0) + n

    @contextlib.contextmanager
    def timed(self, name: str) -> Any:
        """Context manager adding its wall time to stage ``name`` (on CUDA, after the GPU's
        queued work: kernels run asynchronously)."""
        _synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            _synchronize()
            self.add(name, time.perf_counter() - start)

    def wrap(
        self, owner: Any, attr: str, name: str, counter: Callable[..., None] | None = None
    ) -> None:
        """Replace ``owner.attr`` (function or bound method) by a timed version of itself."""
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if counter is not None:
                counter(*args, **kwargs)
            with self.timed(name):
                return original(*args, **kwargs)

        setattr(owner, attr, timed_call)


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def parse_args() -> argparse.Namespace:
    """Command line of the driver."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, type=Path, help="official-layout pifuhd.pt")
    p.add_argument("--image", required=True, type=Path)
    p.add_argument("--rect", required=True, help="crop 'x y w h' in image pixels")
    p.add_argument("--resolution", type=int, required=True)
    p.add_argument("--work", required=True, type=Path, help="folder for inputs and results")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def prepare_inputs(image: Path, rect: str, folder: Path) -> Path:
    """A folder holding only the image and its ``<stem>_rect.txt``, as the original expects."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy2(image, folder / image.name)
    (folder / f"{image.stem}_rect.txt").write_text(" ".join(rect.split()) + "\n")
    return folder


def instrument_modules(stages: Stages) -> None:
    """Time the module-level functions the original's reconstruction calls."""
    import cv2
    import PIFuHD.mesh_util as mesh_util
    import PIFuHD.recontructor as recon
    from skimage import measure

    stages.wrap(torch, "load", "checkpoint read")
    stages.wrap(recon, "reconstruction", "grid+marching")
    stages.wrap(recon, "save_obj_mesh_with_color", "write mesh")
    stages.wrap(cv2, "imwrite", "write image")
    proxy = types.SimpleNamespace(marching_cubes=measure.marching_cubes)
    stages.wrap(proxy, "marching_cubes", "marching cubes")
    mesh_util.measure = proxy  # mesh_util looks up measure.marching_cubes at call time


def instrument_model(stages: Stages, net_mr: Any) -> None:
    """Time the networks of a built original model and count the points it evaluates."""
    net_g = net_mr.netG
    for attr in ("netF", "netB"):
        normal_net = getattr(net_g, attr, None)
        if normal_net is not None:
            stages.wrap(normal_net, "forward", "normal nets")
    stages.wrap(net_g.image_filter, "forward", "coarse encoder")
    stages.wrap(net_mr, "filter_local", "fine encoder")

    def count_grid(points: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        stages.count("grid_points", int(points.shape[-1]))
        stages.count("grid_calls", 1)

    def count_colour(points: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        stages.count("colour_vertices", int(points.shape[-1]))

    stages.wrap(net_mr, "query", "grid query", counter=count_grid)
    stages.wrap(net_mr, "calc_normal", "vertex colouring", counter=count_colour)


def run_original(args: argparse.Namespace, stages: Stages) -> Path:
    """Build and run the original on the prepared folder; returns the written mesh path."""
    from PIFuHD.data import EvalWRectDataset
    from PIFuHD.options import BaseOptions
    from PIFuHD.recontructor import Reconstructor

    inputs = prepare_inputs(args.image.resolve(), args.rect, args.work / "input")
    results = args.work / "results"
    cmd = [
        "--dataroot",
        str(inputs),
        "--results_path",
        str(results),
        "--loadSize",
        "1024",
        "--resolution",
        str(args.resolution),
        "--load_netMR_checkpoint_path",
        str(args.checkpoint.resolve()),
        "--start_id",
        "-1",
        "--end_id",
        "-1",
    ]
    opt = BaseOptions().parse(cmd)
    os.chdir(args.work)  # the original makes opt.checkpoints_path relative to the cwd
    instrument_modules(stages)
    with stages.timed(TOTAL_KEY):
        with stages.timed("image"):
            dataset = EvalWRectDataset(opt)
            if len(dataset) != 1:
                raise SystemExit(f"expected one image with a rect file in {inputs}")
            stages.wrap(dataset, "get_item", "image")
        with stages.timed("checkpoint"):
            reconstructor = Reconstructor(opt)
        instrument_model(stages, reconstructor.netMR)
        returned = reconstructor.evaluate(dataset)
    if returned is None:  # the original prints exceptions and returns None
        raise SystemExit("the original produced no mesh (see its messages above)")
    return Path(returned[1])


def obj_counts(path: Path) -> tuple[int, int]:
    """(vertices, faces) lines of an OBJ file."""
    vertices = faces = 0
    with path.open() as fh:
        for line in fh:
            if line.startswith("v "):
                vertices += 1
            elif line.startswith("f "):
                faces += 1
    return vertices, faces


def summary(stages: Stages, mesh: Path) -> dict[str, Any]:
    """Stage table (nested times split out), counts and memory as a JSON-ready dict.

    ``stages_s`` has the rows both implementations share; ``detail_s`` the original's parts.
    """
    sec = stages.seconds
    detail = {
        "checkpoint read": sec.get("checkpoint read", 0.0),
        "model build": sec.get("checkpoint", 0.0) - sec.get("checkpoint read", 0.0),
        "grid query": sec.get("grid query", 0.0),
        "write image": sec.get("write image", 0.0),
        "write mesh": sec.get("write mesh", 0.0),
    }
    shared = {k: sec[k] for k in SHARED if k in sec}
    shared["grid"] = sec.get("grid+marching", 0.0) - sec.get("marching cubes", 0.0)
    shared["write"] = detail["write image"] + detail["write mesh"]
    vertices, faces = obj_counts(mesh)
    import PIFuHD

    return {
        "implementation": f"original PIFuHD {getattr(PIFuHD, '__version__', '?')} (pifu-hd)",
        "stages_s": {k: round(v, 4) for k, v in shared.items()},
        "detail_s": {k: round(v, 4) for k, v in detail.items()},
        "points_evaluated": stages.counts.get("grid_points", 0),
        "network_calls": stages.counts.get("grid_calls", 0),
        "colouring_points": 4 * stages.counts.get("colour_vertices", 0),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mesh": str(mesh),
        "vertices": vertices,
        "faces": faces,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    """Run, then print the JSON summary as the last stdout line."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    args.work = args.work.resolve()
    stages = Stages()
    with contextlib.redirect_stdout(sys.stderr):
        mesh = run_original(args, stages)
    print(json.dumps(summary(stages, mesh)))


if __name__ == "__main__":
    main()
