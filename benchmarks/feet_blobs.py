"""MediaPipe's feet on synthetic people seen from the side, and the foot-blob rule.

For each person (``make_person(seed)``) and yaw, the render (one light preset, over mid-grey)
goes through MediaPipe and the face test as in the fitter; ``pifuhd.body.feet.feet_placed``
then decides whether to move the feet onto the mask's two foot blobs. Its 2D knees and ankles
are compared with the true ones before and after, label-free (the better of the two ways of
pairing left and right, since the labels are ``pifuhd.body.gait``'s job), in cm. The script
counts the views where the rule moved the feet and the knees and ankles got closer ("better")
or farther ("worse"), and the views it left alone whose ankles are over 10 cm off.

    python3 benchmarks/feet_blobs.py --seeds 1020-1059 --yaws 45,90,135,225,270,315
"""

from __future__ import annotations

import json

import numpy as np
from body_fit import detected_views, view_args
from gait_labels import label_errors

from pifuhd.body.facing import torso_facing
from pifuhd.body.feet import feet_placed
from pifuhd.body.observations import pixels_to_cube
from pifuhd.data.asset import CUBE_HALF_CM, view_matrix
from pifuhd.io.crops import CropRect

LEGS = {25: "knee.L", 26: "knee.R", 27: "ankle.L", 28: "ankle.R"}
OFF_CM = 10.0


def leg_error(image_xy: np.ndarray, crop: CropRect, true: dict[int, np.ndarray]) -> float:
    """Label-free mean 2D distance (cm) of MediaPipe's knees and ankles to the true ones."""
    return min(label_errors(pixels_to_cube(image_xy, crop) * CUBE_HALF_CM, true))


def main() -> None:
    args = view_args(__doc__.split("\n")[0], "45,90,135,225,270,315")
    counts = {"moved_better": 0, "moved_worse": 0, "left_off": 0, "left_alone": 0}
    before_all, after_all = [], []
    crop = CropRect(0, 0, args.size, args.size)
    for seed, yaw, joints, person in detected_views(args.seeds, args.yaws, args.preset, args.size):
        m = view_matrix(yaw)
        true = {i: (m @ np.append(joints[n], 1.0))[:3] * CUBE_HALF_CM for i, n in LEGS.items()}
        placed, moved = feet_placed(person)
        before = leg_error(person.image_xy, crop, true)
        after = leg_error(placed.image_xy, crop, true)
        before_all.append(before)
        after_all.append(after)
        if moved:
            key = "moved_better" if after < before else "moved_worse"
        else:
            key = "left_off" if before > OFF_CM else "left_alone"
        counts[key] += 1
        row = {
            "seed": seed,
            "yaw": yaw,
            "facing": round(torso_facing(np.asarray(person.world, np.float64)), 3),
            "legs_cm": round(before, 1),
            "legs_after_cm": round(after, 1),
            "outcome": key,
        }
        print(json.dumps(row), flush=True)
    counts["legs_cm_mean"] = round(float(np.mean(before_all)), 3)
    counts["legs_after_cm_mean"] = round(float(np.mean(after_all)), 3)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
