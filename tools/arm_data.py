"""Training data for the arm-depth net (``pifuhd.body.arms``): renders of synthetic people near
the side views, MediaPipe's observations of them, a small crop of the photo and the true depths.

Seen from the side, a forearm's front/back order is what the fit gets wrong most (hands on the
hips: the elbows point at and away from the camera), and MediaPipe's landmarks do not show it
(BENCHMARKS.md, "Body fit"); the photo does. Per person (``make_person(seed)``, normalised as
``pifuhd prepare`` normalises scans): ``--views`` yaws near 90 or 270 degrees (jittered by 25),
each under a random light preset over a random flat background, 1024^2, through MediaPipe and
the face test as the fitter sees them. Stored per view: the person crop
(``pifuhd.body.arms.person_crop``: RGB and MediaPipe's mask, uint8), MediaPipe's landmarks in the
render's cube, the true positions of the mapped landmarks there, and the arm pose families. One
``seed_NNNN.npz`` per person (resumable; written atomically). Use seeds no benchmark uses (the
body-fit benchmarks use 1000-1199).

    python3 tools/arm_data.py 2000 2800 --views 3 --out /work/scratch/arms
    python3 tools/arm_data.py 3000 6000 --views 3 --only akimbo --out /work/scratch/arms

``--only akimbo`` keeps the people with a hand on the hips (about one in eight), which the
random draw gives too few of to learn from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from body_fit import normalised
from lift_data import append_view, random_render, regressor_rows, save_views

from pifuhd.body.arms import person_crop, torso_crop
from pifuhd.body.detect import detect_people
from pifuhd.body.facing import facing_corrected
from pifuhd.body.photo import observations
from pifuhd.data.asset import view_matrix
from pifuhd.data.render import SubjectRenderer
from pifuhd.io.crops import CropRect
from pifuhd.synth.people import make_person

FIELDS = ("crop", "torso", "kp", "vis", "world", "true", "yaw", "preset")


def arm_families(params: dict) -> np.ndarray:
    """(2,) a person's arm pose families (left, right); ``walking`` for walkers."""
    tags = params["pose"].get("tags", [])
    return np.array([tags[1], tags[2]] if len(tags) == 3 else ["walking", "walking"])


class _DrawnError(Exception):
    """Carries the first pose ``make_person`` draws (see :func:`first_pose_families`)."""


def first_pose_families(seed: int) -> set[str]:
    """Arm pose families of the first pose ``make_person(seed)`` draws, without building the
    person (its posed body is never made: a cheap filter; a pose redrawn for self-intersection
    can differ, so the built person's own families are what is stored)."""
    from pifuhd.body.anny import anny_body

    def body_fn(shape, pose):
        if pose.name != "rest":
            raise _DrawnError(pose)
        return anny_body(shape, pose)

    try:
        make_person(seed, body_fn=body_fn)
    except _DrawnError as drawn:
        return set(drawn.args[0].tags[1:]) if len(drawn.args[0].tags) == 3 else {"walking"}
    return set()


def person_views(seed: int, rows: np.ndarray, views: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 99)
    made = make_person(seed)
    asset, _, body = normalised(made)
    renderer = SubjectRenderer(asset, prt_dirs=16, seed=0)
    record: dict[str, list] = {k: [] for k in FIELDS}
    yaws = (rng.choice([90.0, 270.0], views) + rng.normal(0, 25, views)) % 360
    for yaw in yaws:
        rgb, preset = random_render(renderer, float(yaw), rng)
        people = detect_people(rgb, max_people=1)
        if not people:
            continue
        person = facing_corrected(rgb, people[0])[0]
        obs = observations(person, (1024, 1024), CropRect(0, 0, 1024, 1024))
        m = view_matrix(float(yaw))
        record["crop"].append(person_crop(rgb, person.mask))
        record["torso"].append(torso_crop(rgb, person.mask, person.image_xy))
        true = rows @ (body @ m[:3, :3].T + m[:3, 3])
        append_view(record, obs, true, yaw, preset)
    arrays = {k: np.array(v) for k, v in record.items()}
    arrays["families"] = arm_families(made.params)
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("start", type=int)
    parser.add_argument("stop", type=int)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--step", type=int, default=1, help="every STEP-th seed (two processes)")
    parser.add_argument("--only", help="only people whose first drawn pose has this arm family")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = regressor_rows()
    for seed in range(args.start, args.stop, args.step):
        path = args.out / f"seed_{seed:04d}.npz"
        if path.exists():
            continue
        start = time.perf_counter()
        if args.only and args.only not in first_pose_families(seed):
            continue
        arrays = person_views(seed, rows, args.views)
        save_views(path, arrays, seed, start)


if __name__ == "__main__":
    main()
