"""Raised arms in body fits: the fitted depth of elbow and wrist against the truth's.

For each person (``make_person(seed)``, as ``benchmarks/body_fit.py`` renders them) whose
wrist is above its shoulder at the given yaw, fits the render and prints, per raised arm, the
elbow's and the wrist's depth relative to the shoulder (cm, z towards the camera) in the truth
and in the fit, and the torso's lean in depth (degrees, mid-hips to neck), then the mean
errors. Fits of front views put raised wrists 20-30 cm in front of the shoulders, and a
body-guided model follows them (``docs/training.md``, session 14).

    python3 benchmarks/raised_arms.py --seeds 1020-1079 --yaw 0 [--set w_torso=3]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from body_fit import fit_settings, normalised_person, seeds_arg  # same folder

from pifuhd.body.photo import fit_people
from pifuhd.body.skinned import JOINT_NAMES
from pifuhd.data.asset import CUBE_HALF_CM, view_matrix
from pifuhd.data.lighting import light_preset
from pifuhd.data.render import SubjectRenderer
from pifuhd.io.crops import CropRect


def lean_deg(joints: dict[str, np.ndarray]) -> float:
    """Forward (+) or backward (-) lean in depth of the root-to-neck line, degrees."""
    v = joints["neck"] - joints["root"]
    return float(np.degrees(np.arctan2(v[2], v[1])))


def arm_depths(joints: dict[str, np.ndarray], side: str) -> tuple[float, float]:
    """(elbow, wrist) depth minus the shoulder's, same units as ``joints``."""
    shoulder = joints[f"shoulder.{side}"][2]
    return joints[f"elbow.{side}"][2] - shoulder, joints[f"wrist.{side}"][2] - shoulder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=seeds_arg, default=seeds_arg("1020-1079"))
    parser.add_argument("--yaw", type=float, default=0.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--set", action="append", default=[], help="FitSettings NAME=VALUE")
    args = parser.parse_args()
    settings = fit_settings(args.set)
    torch.set_num_threads(1)
    m = view_matrix(args.yaw)
    errors: dict[str, list[float]] = {"elbow": [], "wrist": [], "torso": []}
    for seed in args.seeds:
        asset, joints, _ = normalised_person(seed)
        true = {n: (m @ np.append(joints[n], 1.0))[:3] * CUBE_HALF_CM for n in JOINT_NAMES}
        raised = [s for s in "LR" if true[f"wrist.{s}"][1] > true[f"shoulder.{s}"][1]]
        if not raised:
            continue
        maps = SubjectRenderer(asset, prt_dirs=16, seed=0).render_lights(
            args.yaw, args.size, [light_preset("wild")]
        )[0]
        alpha = maps.mask[..., None].astype(np.float32)
        rgb = (maps.rgb * alpha + 0.5 * (1.0 - alpha)).astype(np.float32)
        crop = CropRect(0, 0, args.size, args.size)
        fits = fit_people(rgb, crop, max_people=1, settings=settings)
        if not fits:
            print(json.dumps({"seed": seed, "found": False}))
            continue
        fit = {n: np.asarray(fits[0].joints[n]) * CUBE_HALF_CM for n in JOINT_NAMES}
        row = {
            "seed": seed,
            "torso_true": round(lean_deg(true), 1),
            "torso_fit": round(lean_deg(fit), 1),
        }
        errors["torso"].append(abs(row["torso_fit"] - row["torso_true"]))
        for side in raised:
            (et, wt), (ef, wf) = arm_depths(true, side), arm_depths(fit, side)
            row[side] = {
                k: round(float(v), 1)
                for k, v in zip(
                    ("elbow_true", "elbow_fit", "wrist_true", "wrist_fit"),
                    (et, ef, wt, wf),
                    strict=True,
                )
            }
            errors["elbow"].append(ef - et)
            errors["wrist"].append(wf - wt)
        print(json.dumps(row), flush=True)
    summary = {
        "raised_arms": len(errors["wrist"]),
        "elbow_error_cm_mean": float(np.mean(errors["elbow"])),
        "elbow_error_cm_mean_abs": float(np.mean(np.abs(errors["elbow"]))),
        "wrist_error_cm_mean": float(np.mean(errors["wrist"])),
        "wrist_error_cm_mean_abs": float(np.mean(np.abs(errors["wrist"]))),
        "torso_lean_error_deg_mean_abs": float(np.mean(errors["torso"])),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
