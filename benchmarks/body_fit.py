"""Body fit accuracy on held-out synthetic people: MPJPE, PA-MPJPE, forearm depth order, time.

Each person (``pifuhd.synth.people.make_person(seed)``, normalised as ``pifuhd prepare``
normalises scans) is rendered at each yaw under each light preset over mid-grey, fitted with
``pifuhd.body.photo.fit_people`` (the crop: the whole render, so the fit's cube is the view's)
and compared with the true joints (``avatar.npz`` joints) in that cube, in cm:

- MPJPE: mean joint distance over ``JOINT_NAMES`` with the root's depth aligned only (an
  orthographic photo does not show depth);
- PA-MPJPE: after the best similarity transform (Procrustes);
- forearm order: whether the wrist is in front of or behind the elbow as in the truth (also
  counted only over forearms whose true depth change exceeds ``CLEAR_DEPTH_CM``);
- body P2S: mean distance from the fitted body's vertices to the true Anny body's surface
  (the true body rebuilt from the person's Anny shape and pose), root depth aligned;
- silhouette IoU: the fitted body's projected mask against the true body's (both rasterised
  over the cube's x, y at ``MASK_SIZE``).

Seeds 1000 and up were never used for training data (``pifuhd synth`` numbers people from 0).

    python3 benchmarks/body_fit.py --seeds 1000-1019 --yaws 0,90,180,270 --presets wild,clear

``--set NAME=VALUE`` (repeatable) changes a ``FitSettings`` field, e.g. ``--set w_legs=1``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import igl
import numpy as np
import torch
from PIL import Image, ImageDraw

from pifuhd.body.fit import FitSettings
from pifuhd.body.photo import fit_people
from pifuhd.body.skinned import JOINT_NAMES
from pifuhd.data.asset import CUBE_HALF_CM, MeshAsset, view_matrix
from pifuhd.data.bodies import anny_posed
from pifuhd.data.lighting import light_preset
from pifuhd.data.render import SubjectRenderer
from pifuhd.io.crops import CropRect
from pifuhd.synth.people import make_person

CLEAR_DEPTH_CM = 5.0
MASK_SIZE = 512


def seeds_arg(text: str) -> list[int]:
    """``"1000-1019"`` or ``"1000,1003"`` -> seeds."""
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",")]


def procrustes_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N,) distances after aligning (N, 3) ``pred`` to ``true`` by rotation, scale and shift."""
    p, t = pred - pred.mean(0), true - true.mean(0)
    u, s, vt = np.linalg.svd(p.T @ t)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    u[:, -1] *= d
    rot = u @ vt
    scale = s.sum() / (p**2).sum()
    return np.linalg.norm(scale * p @ rot - t, axis=1)


def normalised_person(seed: int) -> tuple[MeshAsset, dict[str, np.ndarray], np.ndarray]:
    """The person in the subject frame (height 180 cm, box centred), its joints there and the
    true Anny body's vertices there (cm)."""
    return normalised(make_person(seed))


def normalised(person) -> tuple[MeshAsset, dict[str, np.ndarray], np.ndarray]:
    """:func:`normalised_person` of a made ``SynthPerson``."""
    v = person.vertices
    lo, hi = v.min(0), v.max(0)
    scale, centre = 180.0 / (hi[1] - lo[1]), (hi + lo) / 2.0
    anny_v, _ = anny_posed(person.params["body"]["anny_shape"], person.arrays["pose_deltas"])
    place = person.arrays["anny_to_subject"]
    body = ((100.0 * anny_v) @ place[:3, :3].T + place[:3, 3] - centre) * scale
    asset = MeshAsset(
        (v - centre) * scale,
        person.faces,
        person.uv.astype(np.float32),
        person.texture.astype(np.float32) / 255.0,
    )
    names = [str(n) for n in person.arrays["joint_names"]]
    joints = (person.arrays["joints"] - centre) * scale
    return asset, dict(zip(names, joints, strict=True)), body


def silhouette(vertices: np.ndarray, faces: np.ndarray, size: int = MASK_SIZE) -> np.ndarray:
    """(size, size) bool orthographic mask of a mesh over the cube's x, y in [-1, 1]."""
    image = Image.new("1", (size, size), 0)
    draw = ImageDraw.Draw(image)
    px = np.stack([(vertices[:, 0] + 1) * size / 2, (1 - vertices[:, 1]) * size / 2], 1)
    for tri in px[faces]:
        draw.polygon([tuple(p) for p in tri], fill=1)
    return np.asarray(image, dtype=bool)


def body_figures(fit, true_cube: np.ndarray, faces: np.ndarray, dz: float) -> dict:
    """P2S (cm) of the fitted body to the true body and their silhouette IoU."""
    pred = fit.vertices + np.array([0.0, 0.0, dz])
    d2, _, _ = igl.point_mesh_squared_distance(pred, true_cube, faces)
    a, b = silhouette(pred, faces), silhouette(true_cube, faces)
    return {
        "p2s_cm": float(np.sqrt(d2).mean() * CUBE_HALF_CM),
        "silhouette_iou": float((a & b).sum() / max((a | b).sum(), 1)),
    }


def evaluate_view(fit, joints_cm: dict[str, np.ndarray], body_cm: np.ndarray, yaw: float) -> dict:
    m = view_matrix(yaw)
    true = np.array([(m @ np.append(joints_cm[n], 1.0))[:3] for n in JOINT_NAMES])
    pred = np.array([fit.joints[n] for n in JOINT_NAMES])
    dz = true[0, 2] - pred[0, 2]
    pred[:, 2] += dz
    err = np.linalg.norm(pred - true, axis=1) * CUBE_HALF_CM
    order, clear = [], []
    for s in "LR":
        e, w = JOINT_NAMES.index(f"elbow.{s}"), JOINT_NAMES.index(f"wrist.{s}")
        order.append(bool(np.sign(pred[w, 2] - pred[e, 2]) == np.sign(true[w, 2] - true[e, 2])))
        clear.append(bool(abs(true[w, 2] - true[e, 2]) * CUBE_HALF_CM > CLEAR_DEPTH_CM))
    true_cube = body_cm @ m[:3, :3].T + m[:3, 3]
    return {
        "mpjpe_cm": float(err.mean()),
        "pa_mpjpe_cm": float(procrustes_error(pred, true).mean() * CUBE_HALF_CM),
        "forearm_order": order,
        "forearm_clear": clear,
        **body_figures(fit, true_cube, fit.faces, dz),
        "seconds": float(sum(fit.seconds.values())),
    }


def view_args(description: str, yaws: str) -> argparse.Namespace:
    """The command line of the landmark checks (``gait_labels``, ``feet_blobs``,
    ``raised_hands``): ``--seeds``, ``--yaws`` (default ``yaws``), ``--preset``, ``--size``;
    torch on one thread."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=seeds_arg, default=seeds_arg("1020-1059"))
    parser.add_argument("--yaws", default=yaws)
    parser.add_argument("--preset", default="clear")
    parser.add_argument("--size", type=int, default=1024)
    torch.set_num_threads(1)
    return parser.parse_args()


def detected_views(seeds: list[int], yaws: str, preset: str, size: int):
    """For each person and yaw (comma-separated degrees): the render over mid-grey through
    MediaPipe and the face test, as the fitter sees it. Yields ``(seed, yaw, joints, person)``:
    the true joints (cm, subject frame) and the corrected ``PersonLandmarks``; views where
    MediaPipe finds nobody are skipped."""
    from pifuhd.body.detect import detect_people
    from pifuhd.body.facing import facing_corrected

    for seed in seeds:
        asset, joints, _ = normalised_person(seed)
        renderer = SubjectRenderer(asset, prt_dirs=16, seed=0)
        for yaw in (float(y) for y in yaws.split(",")):
            maps = renderer.render(yaw, size, light_preset(preset))
            alpha = maps.mask[..., None].astype(np.float32)
            rgb = (maps.rgb * alpha + 0.5 * (1.0 - alpha)).astype(np.float32)
            people = detect_people(rgb, max_people=1)
            if people:
                yield seed, yaw, joints, facing_corrected(rgb, people[0])[0]


def fit_settings(pairs: list[str]) -> FitSettings:
    """FitSettings with ``NAME=VALUE`` fields changed (each value cast to the field's type)."""
    base, changes = FitSettings(), {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not hasattr(base, name) or not value:
            raise SystemExit(f"--set {pair}: expected NAME=VALUE with a FitSettings field")
        default = getattr(base, name)
        if isinstance(default, tuple):  # comma-separated, e.g. iterations=20,50,80
            parts = value.split(",")
            if len(parts) != len(default):
                raise SystemExit(f"--set {pair}: expected {len(default)} comma-separated values")
            changes[name] = tuple(type(d)(p) for d, p in zip(default, parts, strict=True))
        elif isinstance(default, bool):
            changes[name] = value.lower() in ("1", "true", "yes")
        else:
            changes[name] = type(default)(value)
    return dataclasses.replace(base, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=seeds_arg, default=seeds_arg("1000-1004"))
    parser.add_argument("--yaws", default="0,90,180,270")
    parser.add_argument("--presets", default="wild,clear")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write every view's figures here")
    parser.add_argument("--set", action="append", default=[], help="FitSettings NAME=VALUE")
    args = parser.parse_args()
    settings = fit_settings(args.set)
    torch.set_num_threads(args.threads)
    rows = []
    for seed in args.seeds:
        asset, joints, body = normalised_person(seed)
        renderer = SubjectRenderer(asset, prt_dirs=16, seed=0)
        for yaw in (float(y) for y in args.yaws.split(",")):
            presets = args.presets.split(",")
            lit = renderer.render_lights(yaw, args.size, [light_preset(p) for p in presets])
            for preset, maps in zip(presets, lit, strict=True):
                alpha = maps.mask[..., None].astype(np.float32)
                rgb = (maps.rgb * alpha + 0.5 * (1.0 - alpha)).astype(np.float32)
                start = time.perf_counter()
                crop = CropRect(0, 0, args.size, args.size)
                fits = fit_people(rgb, crop, max_people=1, settings=settings)
                wall = time.perf_counter() - start
                if not fits:
                    rows.append({"seed": seed, "yaw": yaw, "preset": preset, "found": False})
                    continue
                row = {"seed": seed, "yaw": yaw, "preset": preset, "found": True, "wall_s": wall}
                row.update(evaluate_view(fits[0], joints, body, yaw))
                rows.append(row)
                print(json.dumps(row), flush=True)
    found = [r for r in rows if r["found"]]
    order = [o for r in found for o in r["forearm_order"]]
    order_clear = [
        o for r in found for o, c in zip(r["forearm_order"], r["forearm_clear"], strict=True) if c
    ]
    walls = [r["wall_s"] for r in found[1:]] or [0.0]  # the first includes start-up
    summary = {
        "views": len(rows),
        "found": len(found),
        "mpjpe_cm_mean": float(np.mean([r["mpjpe_cm"] for r in found])),
        "mpjpe_cm_median": float(np.median([r["mpjpe_cm"] for r in found])),
        "pa_mpjpe_cm_mean": float(np.mean([r["pa_mpjpe_cm"] for r in found])),
        "forearm_order_right": float(np.mean(order)),
        "forearm_order_right_clear": float(np.mean(order_clear)) if order_clear else None,
        "forearms_clear": len(order_clear),
        "p2s_cm_mean": float(np.mean([r["p2s_cm"] for r in found])),
        "silhouette_iou_mean": float(np.mean([r["silhouette_iou"] for r in found])),
        "wall_s_median": float(np.median(walls)),
        "wall_s_max": float(np.max(walls)),
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
