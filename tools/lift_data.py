"""Training data for the landmark depth net (``pifuhd.body.lift``): MediaPipe on renders of
synthetic people whose true landmarks are known.

Per person (``make_person(seed)``, normalised as ``pifuhd prepare`` normalises scans): four
yaws (a random start plus quarter turns, jittered by 15 degrees), each under a random light
preset over a random flat background, 1024^2; MediaPipe's observations in the render's cube
and the true positions of the landmarks the fitter maps (Anny's COCO regressor on the true
body). One ``seed_NNNN.npz`` per person (resumable; written atomically). Use seeds the held-out
benchmarks do not (they use 1000 and up).

    python3 tools/lift_data.py 0 435 --out /work/scratch/lift
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from body_fit import normalised_person

from pifuhd.body.anny import load_anny
from pifuhd.body.detect import detect_people
from pifuhd.body.fit_terms import LANDMARK_KEYPOINTS
from pifuhd.body.photo import observations
from pifuhd.data.asset import view_matrix
from pifuhd.data.lighting import light_preset
from pifuhd.data.render import SubjectRenderer
from pifuhd.io.crops import CropRect

PRESETS = ("wild", "intermediate", "clear")


def regressor_rows() -> np.ndarray:
    """(33, V) Anny COCO regressor rows for the mapped MediaPipe landmarks (zeros elsewhere)."""
    from anny.keypoints import KeypointsRegressor

    regressor = KeypointsRegressor.coco(load_anny())
    weights = regressor.regression_weights.double().numpy()
    rows = np.zeros((33, weights.shape[1]))
    for index, label in LANDMARK_KEYPOINTS.items():
        rows[index] = weights[regressor.labels.index(label)]
    return rows


def person_yaws(rng: np.random.Generator, seed: int, side: int = 0) -> np.ndarray:
    """The person's view yaws (degrees): a random start plus quarter turns, jittered by 15
    degrees (drawn from ``rng``), then ``side`` more near the side views (90 or 270, jittered
    by 20; their own stream): side views hide one arm behind the body, where the depths are
    hardest."""
    yaws = (rng.uniform(0, 90) + np.arange(4) * 90 + rng.normal(0, 15, 4)) % 360
    if side > 0:
        extra = np.random.default_rng(seed + 7_777)
        sides = extra.choice([90.0, 270.0], side) + extra.normal(0, 20, side)
        yaws = np.concatenate([yaws, sides % 360])
    return yaws


def random_render(
    renderer: SubjectRenderer, yaw: float, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """(1024, 1024, 3) float32 render at ``yaw`` under a random preset of ``PRESETS`` over a
    random flat background (both drawn from ``rng``, preset first), and the preset's index."""
    preset = int(rng.integers(len(PRESETS)))
    maps = renderer.render_lights(yaw, 1024, [light_preset(PRESETS[preset])])[0]
    alpha = maps.mask[..., None].astype(np.float32)
    background = rng.uniform(0.25, 0.75, 3).astype(np.float32)
    return (maps.rgb * alpha + background * (1 - alpha)).astype(np.float32), preset


def append_view(record: dict[str, list], obs, true: np.ndarray, yaw: float, preset: int) -> None:
    """Add one view's MediaPipe observations, (33, 3) true landmarks, yaw and preset."""
    record["kp"].append(obs.keypoints)
    record["vis"].append(obs.visibility)
    record["world"].append(obs.world)
    record["true"].append(true)
    record["yaw"].append(yaw)
    record["preset"].append(preset)


def person_views(seed: int, rows: np.ndarray, side: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 77)
    asset, _, body = normalised_person(seed)
    renderer = SubjectRenderer(asset, prt_dirs=16, seed=0)
    record: dict[str, list] = {k: [] for k in ("kp", "vis", "world", "true", "yaw", "preset")}
    yaws = person_yaws(rng, seed, side)
    for yaw in yaws:
        rgb, preset = random_render(renderer, float(yaw), rng)
        people = detect_people(rgb, max_people=1)
        if not people:
            continue
        obs = observations(people[0], (1024, 1024), CropRect(0, 0, 1024, 1024))
        m = view_matrix(float(yaw))
        true = rows @ (body @ m[:3, :3].T + m[:3, 3])
        append_view(record, obs, true, yaw, preset)
    return {k: np.array(v) for k, v in record.items()}


def save_views(path: Path, arrays: dict[str, np.ndarray], seed: int, start: float) -> None:
    """Write one person's views atomically (a temporary name, then a rename) and log it with
    the seconds since ``start`` (``time.perf_counter``)."""
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    print(seed, len(arrays["yaw"]), f"{time.perf_counter() - start:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("start", type=int)
    parser.add_argument("stop", type=int)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--side", type=int, default=0, help="extra views near the side views")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = regressor_rows()
    for seed in range(args.start, args.stop):
        path = args.out / f"seed_{seed:04d}.npz"
        if path.exists():
            continue
        start = time.perf_counter()
        arrays = person_views(seed, rows, args.side)
        save_views(path, arrays, seed, start)


if __name__ == "__main__":
    main()
