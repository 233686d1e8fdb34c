"""Avatars of held-out synthetic people against the truth, in rest pose and in the photo's pose.

    python3 benchmarks/avatar_eval.py --data held_data --scans held_scans \\
        --subjects 10 --yaws 0,90 -r 256 --methods unpose,pullback,pullback+refine

For each subject and yaw the photo (the view's render over grey) becomes an avatar with each
method (``pifuhd.avatar.pipeline``; ``pullback+refine``: the pulled-back mesh refined in the
photo's pose against the predicted normal maps, 50 iterations; ``pullback``: not refined;
``unpose``: the reconstruction as the checkpoint's pipeline makes it; ``learned``: CAR's
canonical model, ``--canonical-model`` or the bundled one; ``+sdf``: CAR's posed refinement
network for ``--sdf-steps`` from a sphere, ``+hyper``: from ``--hyper``'s output, both before
the vertex refinement when ``+refine`` is there too; ``+attract``: the posed avatar drawn onto
the reconstruction's surface first, ``pifuhd.avatar.posed_fit``; ``+pose``: the pose corrected
onto it before that, 100 steps or N with ``+poseN``, ``pifuhd.avatar.pose_refine``). Scores
(``pifuhd.eval.metrics.geometry_metrics``: Chamfer, P2S, normal consistency, cm):

- posed: the avatar's posed mesh against the view's true mesh (the prepared ``mesh.ply``),
  beside the reconstruction itself (the default model, issue 18's row);
- canonical: the avatar's rest-pose mesh against the person's true rest-pose clothed mesh
  (``rest.obj`` of the synthetic person). Both stand on y = 0 with the pelvis above the
  origin; the avatar is brought to the truth's units by the ratio of the view's cube scale to
  the fit's (shape and pose errors of the fit count against the avatar, as they would for a
  user).

Prints a table per method and writes ``avatar_eval.json`` with every view's figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import trimesh


def truth_rest(scan: Path, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic person's rest-pose clothed mesh (cm), scaled like the prepared subject."""
    mesh = trimesh.load(scan / "rest.obj", process=False, force="mesh")
    return scale * np.asarray(mesh.vertices), np.asarray(mesh.faces)


def pose_steps(extras: list[str]) -> int:
    """``+pose`` -> 100 steps, ``+poseN`` -> N, none -> 0."""
    return next((int(e[4:] or 100) for e in extras if e.startswith("pose")), 0)


def main() -> None:
    from pifuhd.avatar.pipeline import rig_reconstruction
    from pifuhd.demo import composite
    from pifuhd.eval.evaluate import load_mesh_arrays
    from pifuhd.eval.heldout import _png, to_subject_frame, view_records
    from pifuhd.eval.metrics import geometry_metrics
    from pifuhd.inference import Reconstructor
    from pifuhd.weights import default_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--scans", type=Path, required=True)
    parser.add_argument("--subjects", type=int, default=10, help="the first N subjects")
    parser.add_argument("--names", default="", help="these subjects instead (comma-separated)")
    parser.add_argument("--yaws", default="0,90")
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument(
        "--methods", default="unpose,pullback,pullback+refine", help="+refine: posed refinement"
    )
    parser.add_argument("-c", "--checkpoint", type=Path, default=None)
    parser.add_argument(
        "--canonical-model", type=Path, default=None, help="for learned: default the bundled"
    )
    parser.add_argument("--hyper", type=Path, default=None, help="for +hyper: a hypernetwork")
    parser.add_argument("--sdf-steps", type=int, default=300, help="for +sdf and +hyper")
    parser.add_argument("-o", "--out", type=Path, default=Path("avatar_eval.json"))
    args = parser.parse_args()
    methods = args.methods.split(",")
    model = None
    if args.canonical_model is not None:
        from pifuhd.avatar.train_canonical import load_canonical_model

        model = load_canonical_model(args.canonical_model)
    hyper = None
    if args.hyper is not None:
        from pifuhd.avatar.hyper import load_hyper

        hyper = load_hyper(args.hyper)
    reconstructor = Reconstructor(
        args.checkpoint or default_checkpoint(), resolution=args.resolution
    )
    reconstructor.fit_body = True
    names = sorted(p.name for p in (args.data / "subjects").iterdir())[: args.subjects]
    if args.names:
        names = args.names.split(",")
    rows: list[dict] = []
    for name in names:
        folder = args.data / "subjects" / name
        subject = json.loads((folder / "subject.json").read_text())
        scale = float(subject["scan"]["scale"])
        truth_posed = load_mesh_arrays(folder / "mesh.ply")
        rest = truth_rest(args.scans / name, scale)
        for view in view_records(folder, tuple(float(y) for y in args.yaws.split(","))):
            rgb = _png(folder / "rgb" / view["file"])
            mask = _png(folder / "mask" / view["file"])[..., 0] > 0.5
            photo = composite(rgb, mask)
            start = time.perf_counter()
            result = reconstructor(photo, rect=f"0 0 {photo.shape[0]} {photo.shape[0]}")
            seconds = time.perf_counter() - start
            calib = np.asarray(view["calib"], np.float64)
            row = {"view": f"{name}@{view['yaw']:g}", "reconstruct_s": seconds}
            mesh = (to_subject_frame(np.asarray(result.mesh.vertices), calib), result.mesh.faces)
            row["reconstruction_posed"] = geometry_metrics(mesh, truth_posed).__dict__
            if result.body_fit is None:
                row["error"] = "no body fit"
                rows.append(row)
                continue
            cube_per_cm = float(np.cbrt(abs(np.linalg.det(calib[:3, :3]))))
            for method in methods:
                start = time.perf_counter()
                canonical, *extras = method.split("+")
                sdf = args.sdf_steps if {"sdf", "hyper"} & set(extras) else 0
                avatar = rig_reconstruction(
                    result,
                    name,
                    motions=(),
                    canonical=canonical,
                    refine=50 if "refine" in extras else 0,
                    model=model,
                    sdf_refine=sdf,
                    hyper=hyper if "hyper" in extras else None,
                    attract="attract" in extras,
                    pose_refine=next(
                        (int(e[4:] or 100) for e in extras if e.startswith("pose")), 0
                    ),
                )
                row[f"{method}_s"] = time.perf_counter() - start
                posed = to_subject_frame(np.asarray(avatar.posed.vertices), calib)
                row[f"{method}_posed"] = geometry_metrics(
                    (posed, avatar.posed.faces), truth_posed
                ).__dict__
                ratio = avatar.rigged.placement.scale / cube_per_cm
                canon = ratio * avatar.rigged.rest
                row[f"{method}_canonical"] = geometry_metrics(
                    (canon, avatar.rigged.faces), rest
                ).__dict__
            rows.append(row)
            print(row["view"], {k: round(v["chamfer_cm"], 2) for k, v in row.items()
                                if isinstance(v, dict)}, flush=True)  # fmt: skip
    args.out.write_text(json.dumps(rows, indent=1))
    keys = ["reconstruction_posed"] + [f"{m}_{s}" for m in methods for s in ("posed", "canonical")]
    print(f"\n{len(rows)} views; mean over views with a body fit")
    print("| | Chamfer cm | P2S cm | normal consistency |\n|---|---|---|---|")
    for key in keys:
        vals = [r[key] for r in rows if key in r]
        if vals:
            mean = {
                m: np.mean([v[m] for v in vals])
                for m in ("chamfer_cm", "p2s_cm", "normal_consistency")
            }
            cells = f"{mean['chamfer_cm']:.2f} | {mean['p2s_cm']:.2f}"
            print(f"| {key} | {cells} | {mean['normal_consistency']:.3f} |")


if __name__ == "__main__":
    main()
