"""MediaPipe's leg labels on synthetic people seen from the side, and the counter-swing rule.

For each person (``make_person(seed)``) and yaw, the render (one light preset, over mid-grey)
goes through MediaPipe and the face test as in the fitter; its 2D knees and ankles are
compared with the true ones as labelled and with left and right exchanged (a view whose two
means differ by over 5 cm has clear labels). Then ``pifuhd.body.gait.swing_conflict`` decides;
the script counts the views it relabels rightly (MediaPipe was wrong), wrongly (MediaPipe was
right) and the clear mislabelled views it leaves.

    python3 benchmarks/gait_labels.py --seeds 1020-1059 --yaws 45,90,135,225,270,315
"""

from __future__ import annotations

import json

import numpy as np
from body_fit import detected_views, view_args

from pifuhd.body.facing import torso_facing
from pifuhd.body.gait import swing_conflict
from pifuhd.body.observations import pixels_to_cube
from pifuhd.data.asset import CUBE_HALF_CM, view_matrix
from pifuhd.io.crops import CropRect

LEGS = {25: "knee.L", 26: "knee.R", 27: "ankle.L", 28: "ankle.R"}
SWAP = {25: 26, 26: 25, 27: 28, 28: 27}
CLEAR_CM = 5.0


def label_errors(kp_cm: np.ndarray, true_cm: dict[int, np.ndarray]) -> tuple[float, float]:
    """Mean 2D distance (cm) of MediaPipe's knees and ankles to the true ones, as labelled and
    with left and right exchanged."""
    direct = np.mean([np.linalg.norm(kp_cm[i] - true_cm[i][:2]) for i in LEGS])
    swapped = np.mean([np.linalg.norm(kp_cm[SWAP[i]] - true_cm[i][:2]) for i in LEGS])
    return float(direct), float(swapped)


def main() -> None:
    args = view_args(__doc__.split("\n")[0], "45,90,135,225,270,315")
    counts = {"relabelled_rightly": 0, "relabelled_wrongly": 0, "missed": 0, "left_alone": 0}
    for seed, yaw, joints, person in detected_views(args.seeds, args.yaws, args.preset, args.size):
        crop = CropRect(0, 0, args.size, args.size)
        kp = pixels_to_cube(person.image_xy, crop) * CUBE_HALF_CM
        m = view_matrix(yaw)
        true = {i: (m @ np.append(joints[n], 1.0))[:3] * CUBE_HALF_CM for i, n in LEGS.items()}
        direct, swapped = label_errors(kp, true)
        world = np.asarray(person.world, np.float64)
        relabel = swing_conflict(person.image_xy, world)
        wrong = swapped < direct
        if relabel:
            key = "relabelled_rightly" if wrong else "relabelled_wrongly"
        elif wrong and direct - swapped > CLEAR_CM:
            key = "missed"
        else:
            key = "left_alone"
        counts[key] += 1
        row = {
            "seed": seed,
            "yaw": yaw,
            "facing": round(torso_facing(world), 3),
            "legs_cm": round(direct, 1),
            "legs_swapped_cm": round(swapped, 1),
            "outcome": key,
        }
        print(json.dumps(row), flush=True)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
