"""CAR's hypernetwork: how much sooner the posed refinement reaches its loss from its start.

    python3 benchmarks/avatar_hyper.py --data held_data --hyper runs/avatar_hyper \\
        --subjects 5 --yaws 0,90 --iterations 600 --plot docs/avatar_hyper_curve.png

For each held-out view the photo (its render over grey) becomes an avatar (pulled-back
canonical mesh, posed; ``--canonical``), and the posed refinement network
(``pifuhd.avatar.refine_sdf``) is fitted to it twice for ``--iterations`` steps (two plain
gradient steps, as the hypernetwork is meta-trained for, then Adam) with the same batches: from
the plain (geometric, sphere) start and from the hypernetwork's output for the view's fitted
body. Reported per start: the loss curve (mean over views, a moving average of ``SMOOTH``
steps), the steps and wall seconds until the curve first reaches the loss the plain start ends
with, and the avatar after projecting onto each fit's zero set (Chamfer / P2S / normal
consistency against the view's true mesh). Writes ``--out`` (JSON) and ``--plot`` (PNG).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SMOOTH = 20


def smooth(curve: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """Trailing moving average (the first ``width - 1`` values average what there is)."""
    sums = np.cumsum(np.concatenate([[0.0], curve]))
    idx = np.arange(1, len(curve) + 1)
    lo = np.maximum(idx - width, 0)
    return (sums[idx] - sums[lo]) / (idx - lo)


def steps_to_reach(curve: np.ndarray, level: float) -> int | None:
    """First step (1-based) where the smoothed curve is at or below ``level``."""
    hits = np.flatnonzero(smooth(curve) <= level)
    return int(hits[0]) + 1 if len(hits) else None


def recorder(losses: list[float]):
    """An ``on_step`` that appends each step's loss to ``losses``."""
    return lambda step, loss, seconds: losses.append(loss)


def score(vertices: np.ndarray, faces: np.ndarray, calib: np.ndarray, truth: tuple) -> dict:
    """Geometry metrics of a cube-frame mesh of a view against the view's true mesh."""
    from pifuhd.eval.heldout import to_subject_frame
    from pifuhd.eval.metrics import geometry_metrics

    return geometry_metrics((to_subject_frame(vertices, calib), faces), truth).__dict__


def main() -> None:
    import torch

    from pifuhd.avatar.hyper import body_points, load_hyper
    from pifuhd.avatar.pipeline import rig_reconstruction
    from pifuhd.avatar.refine_sdf import fit_theta, geometric_theta, photo_targets, project_to_zero
    from pifuhd.demo import composite
    from pifuhd.eval.evaluate import load_mesh_arrays
    from pifuhd.eval.heldout import _png, view_records
    from pifuhd.inference import Reconstructor
    from pifuhd.weights import default_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--hyper", type=Path, required=True, help="run folder or safetensors")
    parser.add_argument("--subjects", type=int, default=5)
    parser.add_argument("--yaws", default="0,90")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--canonical", default="pullback", choices=["pullback", "learned"])
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("-o", "--out", type=Path, default=Path("avatar_hyper.json"))
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    hyper = load_hyper(args.hyper)
    reconstructor = Reconstructor(default_checkpoint(), resolution=args.resolution)
    reconstructor.fit_body = True
    names = sorted(p.name for p in (args.data / "subjects").iterdir())[: args.subjects]
    rows, curves = [], {"plain": [], "hyper": []}
    for name in names:
        folder = args.data / "subjects" / name
        truth = load_mesh_arrays(folder / "mesh.ply")
        for view in view_records(folder, tuple(float(y) for y in args.yaws.split(","))):
            rgb = _png(folder / "rgb" / view["file"])
            mask = _png(folder / "mask" / view["file"])[..., 0] > 0.5
            photo = composite(rgb, mask)
            result = reconstructor(photo, rect=f"0 0 {photo.shape[0]} {photo.shape[0]}")
            if result.body_fit is None:
                continue
            avatar = rig_reconstruction(result, name, (), canonical=args.canonical, refine=0)
            rigged, calib = avatar.rigged, np.asarray(view["calib"], np.float64)
            cube = rigged.placement.to_cube(rigged.posed)
            targets = photo_targets(cube, rigged.faces, *result.normals)
            faces = rigged.body.weld[rigged.body.faces]
            with torch.no_grad():
                starts = {
                    "plain": geometric_theta(),
                    "hyper": hyper(torch.as_tensor(body_points(result.body_fit.vertices, faces))),
                }
            row = {"view": f"{name}@{view['yaw']:g}"}

            row["unrefined"] = score(cube, rigged.faces, calib, truth)
            for key, theta0 in starts.items():
                losses: list[float] = []
                start = time.perf_counter()
                theta = fit_theta(theta0, targets, args.iterations, on_step=recorder(losses))
                seconds = time.perf_counter() - start
                curves[key].append(losses)
                row[key] = {"seconds": seconds, "final": float(np.mean(losses[-SMOOTH:]))}
                moved = project_to_zero(theta, cube)
                row[f"{key}_mesh"] = score(moved, rigged.faces, calib, truth)
            rows.append(row)
            print(row["view"], {k: round(row[k]["final"], 4) for k in starts}, flush=True)
    mean = {k: np.mean(np.asarray(v), axis=0) for k, v in curves.items()}
    level = float(smooth(mean["plain"])[-1])
    per_step = {k: np.mean([r[k]["seconds"] for r in rows]) / args.iterations for k in mean}
    summary = {"views": len(rows), "iterations": args.iterations, "plain_final_loss": level}
    for key, curve in mean.items():
        reach = steps_to_reach(curve, level)
        summary[key] = {
            "loss_at_start": float(curve[0]),
            "final_loss": float(smooth(curve)[-1]),
            "steps_to_plain_final": reach,
            "seconds_to_plain_final": None if reach is None else reach * per_step[key],
        }
        for part in ("unrefined", f"{key}_mesh"):
            summary[part] = {
                m: float(np.mean([r[part][m] for r in rows]))
                for m in ("chamfer_cm", "p2s_cm", "normal_consistency")
            }
    args.out.write_text(json.dumps({"summary": summary, "rows": rows, "curves": curves}))
    print(json.dumps(summary, indent=1))
    if args.plot is not None:
        plot(mean, level, args.plot, len(rows))


def plot(mean: dict[str, np.ndarray], level: float, path: Path, views: int) -> None:
    """Mean loss curves of both starts (log scale), the plain start's final loss marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    labels = {"plain": "plain start (sphere)", "hyper": "hypernetwork start"}
    for key, curve in mean.items():
        ax.plot(np.arange(1, len(curve) + 1), smooth(curve), label=labels[key])
    ax.axhline(level, color="grey", linestyle=":", label="plain start's final loss")
    ax.set_yscale("log")
    ax.set_xlabel("refinement step (Adam, lr 1e-3)")
    ax.set_ylabel(f"refinement loss (moving mean of {SMOOTH})")
    ax.set_title(f"CAR posed refinement: mean over {views} held-out views")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
