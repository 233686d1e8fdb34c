"""Hands above the head that MediaPipe missed, and the mask rule that raises an arm there.

For each person (``make_person(seed)``) and yaw, the render (one light preset, over mid-grey)
goes through MediaPipe and the face test as in the fitter; ``pifuhd.body.raised.hands_raised``
then decides whether to raise an arm into the mask above the head. Where it does, MediaPipe's
two wrists are compared with the two true ones before and after (2D, cm, mean over the wrists,
paired either way): "better" or "worse". Views it leaves alone are "missed" when a true wrist
is above the head joint and no MediaPipe wrist is within 15 cm of it, else "left alone".

    python3 benchmarks/raised_hands.py --seeds 1020-1059 --yaws 0,45,90,135,180,225,270,315
"""

from __future__ import annotations

import json

import numpy as np
from body_fit import detected_views, view_args

from pifuhd.body.facing import torso_facing
from pifuhd.body.observations import pixels_to_cube
from pifuhd.body.raised import hands_raised
from pifuhd.data.asset import CUBE_HALF_CM, view_matrix
from pifuhd.io.crops import CropRect

NEAR_CM = 15.0


def wrist_error(wrists: np.ndarray, true: list[np.ndarray]) -> float:
    """Mean 2D distance (cm) of (2, 2) wrists to the two true ones, paired either way (the
    better): which arm the rule raised is the labels' business."""
    direct = np.linalg.norm(wrists[0] - true[0]) + np.linalg.norm(wrists[1] - true[1])
    swapped = np.linalg.norm(wrists[0] - true[1]) + np.linalg.norm(wrists[1] - true[0])
    return float(min(direct, swapped) / 2.0)


def main() -> None:
    args = view_args(__doc__.split("\n")[0], "0,45,90,135,180,225,270,315")
    counts = {"raised_better": 0, "raised_worse": 0, "missed": 0, "left_alone": 0}
    crop = CropRect(0, 0, args.size, args.size)
    for seed, yaw, joints, person in detected_views(args.seeds, args.yaws, args.preset, args.size):
        m = view_matrix(yaw)
        true = [(m @ np.append(joints[f"wrist.{s}"], 1.0))[:2] * CUBE_HALF_CM for s in "LR"]
        head = (m @ np.append(joints["head"], 1.0))[1] * CUBE_HALF_CM
        raised, did = hands_raised(person)
        before = pixels_to_cube(person.image_xy, crop) * CUBE_HALF_CM
        after = pixels_to_cube(raised.image_xy, crop) * CUBE_HALF_CM
        row = {"seed": seed, "yaw": yaw}
        if did:
            err = [wrist_error(p[[15, 16]], true) for p in (before, after)]
            key = "raised_better" if err[1] < err[0] else "raised_worse"
            row.update(wrist_cm=round(err[0], 1), wrist_after_cm=round(err[1], 1))
        else:
            up = [t for t in true if t[1] > head]
            seen = [any(np.linalg.norm(before[i] - t) < NEAR_CM for i in (15, 16)) for t in up]
            key = "missed" if up and not all(seen) else "left_alone"
        counts[key] += 1
        row.update(facing=round(torso_facing(np.asarray(person.world, np.float64)), 3), outcome=key)
        print(json.dumps(row), flush=True)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
