"""Coarse-to-fine against dense grid evaluation on the same image and checkpoint.

Prints points evaluated, wall time of each, and how far the two meshes are apart, in voxels:
the symmetric Chamfer distance (mean nearest-vertex distance, both ways, averaged), the largest
distance, and the fraction of vertices of each mesh within 0.01 voxel of the other.

    python benchmarks/c2f_vs_dense.py CHECKPOINT IMAGE --resolution 128
"""

from __future__ import annotations

import argparse
import time

from _mesh_distance import distances  # same folder: run as python3 benchmarks/...

from pifuhd.inference import Reconstructor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("image")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rec = Reconstructor(args.checkpoint, device=args.device, resolution=args.resolution)
    runs = {}
    for label, c2f in (("coarse-to-fine", True), ("dense", False)):
        rec.coarse_to_fine = c2f
        start = time.perf_counter()
        runs[label] = rec(args.image)
        elapsed = time.perf_counter() - start
        r = runs[label]
        print(
            f"{label:>15}: {r.points_evaluated:>11,} points "
            f"({r.points_evaluated / args.resolution**3:.3f} of R^3), {elapsed:6.2f} s, "
            f"{len(r.mesh.vertices):,} vertices, watertight={r.mesh.is_watertight}"
        )
    stats = distances(
        runs["coarse-to-fine"].mesh.vertices,
        runs["dense"].mesh.vertices,
        2 / args.resolution,
        names=("c2f", "dense"),
    )
    print("mesh distance (voxels): " + ", ".join(f"{k} {v:.4g}" for k, v in stats.items()))


if __name__ == "__main__":
    main()
