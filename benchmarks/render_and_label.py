"""Timings of the training-data renderer and the inside/outside labeller.

Builds a closed, textured body-like proxy (marching cubes of a smooth union of capsules, 180 cm
tall, ~30k vertices) and times, over several repeats (median and min..max):

- ``SubjectRenderer`` construction (ray structure + PRT transfer, 64 directions);
- one view at 512^2 and at 1024^2 (front + back ray casts, shading, albedo, normals, depth);
- labelling 1 M points (near-surface + uniform) against a ~30k-face proxy (winding number).

    python benchmarks/render_and_label.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from skimage.measure import marching_cubes

from pifuhd.data.asset import MeshAsset
from pifuhd.data.lighting import light_preset
from pifuhd.data.render import SubjectRenderer
from pifuhd.data.sample import inside_mesh, occupancy_samples

# (start, end, radius) of capsules in cm, y up, subject facing +z.
CAPSULES = [
    ((0, -5, 0), (0, 35, 0), 17.0),  # torso
    ((0, 58, 0), (0, 66, 2), 10.0),  # head
    ((0, 40, 0), (0, 50, 0), 6.0),  # neck
    ((-9, -8, 0), (-10, -85, 2), 7.0),  # legs
    ((9, -8, 0), (10, -85, 2), 7.0),
    ((-20, 35, 0), (-45, 0, 5), 5.0),  # arms
    ((20, 35, 0), (45, 0, 5), 5.0),
    ((-10, -85, 2), (-10, -86, 14), 5.0),  # feet
    ((10, -85, 2), (10, -86, 14), 5.0),
]


def _capsule_distance(points: np.ndarray, a: tuple, b: tuple, radius: float) -> np.ndarray:
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    ab = b_ - a_
    t = np.clip((points - a_) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(points - (a_ + t[:, None] * ab), axis=1) - radius


def body_proxy(resolution: int) -> MeshAsset:
    """A closed body-like mesh (smooth union of capsules) with a cylindrical UV checker texture."""
    axes = [np.linspace(-60, 60, resolution), np.linspace(-95, 95, resolution)]
    axes.append(np.linspace(-30, 30, resolution // 2))
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    k = 4.0  # smooth-min width, cm
    d = np.stack([_capsule_distance(grid, *c) for c in CAPSULES])
    sdf = -k * np.log(np.exp(-d / k).sum(axis=0))
    spacing = [float(ax[1] - ax[0]) for ax in axes]
    verts, faces, _, _ = marching_cubes(sdf.reshape([len(ax) for ax in axes]), 0.0, spacing=spacing)
    verts += np.array([ax[0] for ax in axes])  # faces come out counter-clockwise
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    verts = (verts - (lo + hi) / 2) * (180.0 / (hi - lo)[1])
    uv = np.stack(
        [np.arctan2(verts[:, 0], verts[:, 2]) / (2 * np.pi) + 0.5, verts[:, 1] / 180 + 0.5], axis=1
    )
    tex = np.indices((1024, 1024)).sum(axis=0) // 64 % 2
    texture = np.stack([0.3 + 0.5 * tex, 0.5 * np.ones_like(tex), 0.8 - 0.4 * tex], -1)
    return MeshAsset(
        verts.astype(np.float64),
        faces.astype(np.int64),
        uv=uv.astype(np.float32),
        texture=texture.astype(np.float32),
        name="body-proxy",
    )


def timed(label: str, func: Callable[[], object], repeats: int) -> None:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    print(
        f"{label:<44} median {statistics.median(times):7.3f} s   "
        f"(min {min(times):.3f}, max {max(times):.3f}, n={repeats})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=150, help="proxy grid resolution")
    parser.add_argument("--label-resolution", type=int, default=106, help="grid for labelling")
    args = parser.parse_args()
    asset = body_proxy(args.resolution)
    print(f"proxy: {len(asset.vertices):,} vertices, {len(asset.faces):,} faces")
    timed("SubjectRenderer construction (64-dir PRT)", lambda: SubjectRenderer(asset), args.repeats)
    renderer = SubjectRenderer(asset)
    light = light_preset("intermediate")
    for size in (512, 1024):
        renderer.render(30.0, size, light)  # warm-up
        timed(
            f"render one view {size}^2",
            lambda s=size: renderer.render(30.0, s, light),
            args.repeats,
        )
        maps = renderer.render(30.0, size, light)
        print(f"    foreground: {maps.mask.mean():.1%} of the pixels")

    asset = body_proxy(args.label_resolution)
    rng = np.random.default_rng(0)
    lo, hi = asset.vertices.min(axis=0), asset.vertices.max(axis=0)
    box_min, box_max = lo - 10.0, hi + 10.0
    points = occupancy_samples(
        asset.vertices, asset.faces, rng, 240_000, (5.0, 1.0), 520_000, box_min, box_max
    )["points"]
    print(f"labelling {len(points):,} points, {len(asset.faces):,} faces")
    timed(
        "inside_mesh (fast winding number)",
        lambda: inside_mesh(asset.vertices, asset.faces, points),
        args.repeats,
    )


if __name__ == "__main__":
    main()
