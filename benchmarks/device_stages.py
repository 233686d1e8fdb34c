"""The stages around the network, host path against tensor path, with a cheap analytic field.

    python3 benchmarks/device_stages.py --resolution 512 [--device cuda] [--repeat 3]

With the network taken out (the query is a rippled sphere computed in a few tensor ops), what
is left is the cost a GPU cannot hide: the grid's bookkeeping (which points to evaluate,
filling, interpolation) and marching cubes. For each path and grid rule it prints seconds per
repeat (min / median / max) and the mesh's size:

- host: ``pifuhd.geometry.original_octree`` / ``grid`` in NumPy + scikit-image's marching
  cubes (``triangulate``), the CPU default; the field is evaluated on ``--device`` and copied
  back per chunk, as the pipeline does;
- tensor: ``torch_octree`` / ``torch_grid`` + ``torch_marching`` on ``--device``, the default
  on a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from pifuhd.geometry.grid import evaluate_coarse_to_fine
from pifuhd.geometry.marching import triangulate
from pifuhd.geometry.original_octree import evaluate_original_octree
from pifuhd.geometry.torch_grid import evaluate_coarse_to_fine_torch
from pifuhd.geometry.torch_marching import triangulate_torch
from pifuhd.geometry.torch_octree import evaluate_original_octree_torch


def rippled_sphere(points: torch.Tensor) -> torch.Tensor:
    """(N, 3) -> (N,) occupancy: a sphere of radius 0.6 with a ripple, sharp at its surface."""
    radius = torch.linalg.vector_norm(points, dim=1)
    ripple = 0.04 * torch.sin(11.0 * points[:, 0]) * torch.sin(13.0 * points[:, 1])
    return torch.sigmoid(40.0 * (0.6 + ripple - radius))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_host(rule: str, resolution: int, device: torch.device, chunk: int) -> tuple[float, ...]:
    def query(points: np.ndarray) -> np.ndarray:
        return rippled_sphere(torch.from_numpy(points).to(device)).cpu().numpy()

    start = time.perf_counter()
    if rule == "octree":
        volume, _ = evaluate_original_octree(query, resolution, chunk=chunk)
    else:
        volume, _ = evaluate_coarse_to_fine(query, resolution, chunk=chunk)
    grid = time.perf_counter()
    verts, faces, _ = triangulate(volume, 0.5)
    return grid - start, time.perf_counter() - grid, len(verts), len(faces)


def run_tensor(rule: str, resolution: int, device: torch.device, chunk: int) -> tuple[float, ...]:
    _sync(device)
    start = time.perf_counter()
    if rule == "octree":
        padded, _ = evaluate_original_octree_torch(rippled_sphere, resolution, device, chunk=chunk)
    else:
        padded, _ = evaluate_coarse_to_fine_torch(rippled_sphere, resolution, device, chunk=chunk)
    _sync(device)
    grid = time.perf_counter()
    verts, faces, _ = triangulate_torch(padded, 0.5)  # ends with the copy to the host
    return grid - start, time.perf_counter() - grid, len(verts), len(faces)


def spread(values: list[float]) -> str:
    return f"{min(values):7.3f} {statistics.median(values):7.3f} {max(values):7.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--chunk", type=int, default=262144)
    p.add_argument("--rules", default="octree,c2f")
    args = p.parse_args()
    device = torch.device(args.device)
    paths: dict[str, Callable[..., tuple[float, ...]]] = {"host": run_host, "tensor": run_tensor}
    print(f"R = {args.resolution}, device {device}, {args.repeat} repeats (min median max, s)")
    print(f"{'rule':<8}{'path':<8}{'grid':>24}{'marching cubes':>24}{'vertices':>12}{'faces':>12}")
    for rule in args.rules.split(","):
        for name, fn in paths.items():
            fn(rule, min(args.resolution, 128), device, args.chunk)  # warm-up
            runs = [fn(rule, args.resolution, device, args.chunk) for _ in range(args.repeat)]
            grid, mc = [r[0] for r in runs], [r[1] for r in runs]
            print(
                f"{rule:<8}{name:<8}{spread(grid):>24}{spread(mc):>24}"
                f"{runs[-1][2]:>12,}{runs[-1][3]:>12,}"
            )


if __name__ == "__main__":
    main()
