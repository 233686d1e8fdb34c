"""Points per second of the fast occupancy query's paths on the original octree's own calls.

Runs the original release's octree (``pifuhd.geometry.original_octree``) once on a photo at
``--resolution``, keeps every ``--keep``-th call's points (the real mix of ray lengths), then
times the query on those calls, the variants interleaved and repeated (``--repeats``), and
prints the best and median points/s of each and the spread:

- ``plain``: no per-ray split (``min_ray_points`` infinite): every layer per point;
- ``split``: the linear channels of layer 1 per ray, the per-ray terms gathered per point;
- ``split+folded``: the default: with few rays in a call, the per-ray terms are columns of the
  products (layer 1, the merge layer) instead of per-point gathers.

It also prints each variant's error against the float32 query on the same points (largest
and mean occupancy difference, and the fraction of points on the other side of 0.5).

    python benchmarks/fast_query_paths.py CHECKPOINT IMAGE --rect "x y w h" --resolution 256
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from _photo import load_photo, photo_parser  # same folder: run as python3 benchmarks/...

from pifuhd.geometry.original_octree import evaluate_original_octree
from pifuhd.geometry.projection import default_calib
from pifuhd.inference import Reconstructor
from pifuhd.models.fast_query import FastQuery
from pifuhd.runtime import encode


def captured_calls(rec: Reconstructor, features, resolution: int, keep: int) -> list[np.ndarray]:
    """Every ``keep``-th point list the octree sends to the query (the default query)."""
    query = FastQuery(rec.model, features, default_calib(1), precision=rec.precision)
    calls: list[np.ndarray] = []

    def fn(points: np.ndarray) -> np.ndarray:
        if len(calls) % keep == 0:
            calls.append(points.copy())
        else:
            calls.append(np.empty((0, 3), np.float32))
        with torch.inference_mode():
            return query(torch.from_numpy(points)).numpy()

    evaluate_original_octree(fn, resolution, chunk=rec.chunk)
    return [c for c in calls if len(c)]


def main() -> None:
    parser = photo_parser(__doc__)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--keep", type=int, default=20, help="keep every keep-th call")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    rec = Reconstructor(args.checkpoint, device="cpu", precision=args.precision)
    image, crop = load_photo(args)
    features = encode(rec.model, *rec.network_images(image, crop), rec.precision)
    calls = [torch.from_numpy(c) for c in captured_calls(rec, features, args.resolution, args.keep)]
    n_points = sum(len(c) for c in calls)
    print(f"{len(calls)} calls, {n_points:,} points (R = {args.resolution}, {args.precision})")

    def variant(min_ray_points: float, max_folded_rays: int) -> FastQuery:
        q = FastQuery(rec.model, features, default_calib(1), precision=args.precision)
        q.min_ray_points, q.max_folded_rays = min_ray_points, max_folded_rays
        return q

    variants = {
        "plain": variant(float("inf"), 0),
        "split": variant(FastQuery.min_ray_points, 0),
        "split+folded": variant(FastQuery.min_ray_points, FastQuery.max_folded_rays),
    }
    with torch.inference_mode():
        reference = FastQuery(rec.model, features, default_calib(1), precision="fp32")
        reference.min_ray_points = float("inf")  # the plain path in float32
        truth = [reference(c) for c in calls]
        for name, q in variants.items():
            got = [q(c) for c in calls]
            err = torch.cat([(g - t).abs() for g, t in zip(got, truth, strict=True)])
            side = torch.cat([(g > 0.5) != (t > 0.5) for g, t in zip(got, truth, strict=True)])
            print(
                f"{name:>13} vs fp32: max {err.max():.4f}, mean {err.mean():.5f}, "
                f"other side of 0.5 {side.float().mean():.4%}"
            )
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, q in variants.items():
                start = time.perf_counter()
                for c in calls:
                    q(c)
                rates[name].append(n_points / (time.perf_counter() - start))
    base = statistics.median(rates["plain"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"{name:>13}: best {max(values):>9,.0f} points/s, median {median:>9,.0f} "
            f"(min {min(values):,.0f}), median {median / base:.2f}x plain"
        )


if __name__ == "__main__":
    main()
