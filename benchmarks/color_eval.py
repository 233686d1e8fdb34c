"""Colour quality by texture mode, on the reconstructed geometry and on the true one.

For each held-out subject, view and light preset of a prepared data folder, the photo (the
view's ``rgb_<preset>`` render over grey, as ``pifuhd evaluate --data`` makes it) is
reconstructed once; then every mode of ``pifuhd.surface_colors`` colours

- the reconstructed mesh (PATD / PIPATD against the true coloured mesh: colour and shape error
  together), and
- the true mesh itself, moved into the view's cube (each true vertex's colour against its own
  true colour: colour alone, as issue 21 asks).

The blend judges the photo's light once, on the reconstruction (``judge_light``), as a run
does, and colours both meshes by that judgement.

Modes: photo, photo+delight, net, blend, blend+delight; with ``--nets name=checkpoint,...``
the net and blend modes also for other colour nets (``name:net``, ``name:blend``). PATD is the
mean CIEDE2000 to the nearest true vertex, PIPATD the smallest over the k nearest
(``pifuhd.eval.color_metrics``). Prints a table per light and writes JSON with ``-o``:

    python3 benchmarks/color_eval.py --data held_data --lights wild,intermediate,clear -o c.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image

import pifuhd.surface_colors as surface_colors_module
from pifuhd.demo import composite
from pifuhd.eval.color_metrics import DEFAULT_K, color_metrics
from pifuhd.eval.evaluate import load_mesh_colors
from pifuhd.eval.heldout import to_subject_frame, view_records
from pifuhd.inference import Reconstructor
from pifuhd.surface_colors import PhotoEvidence, judge_light, surface_colors
from pifuhd.weights import default_checkpoint

MODES = {
    "photo": ("photo", False),
    "photo+delight": ("photo", True),
    "net": ("net", False),
    "blend": ("blend", False),
    "blend+delight": ("blend", True),
}


def png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def to_cube(vertices: np.ndarray, calib: np.ndarray) -> np.ndarray:
    """Subject frame (cm) -> the view's cube, through the (4, 4) calib."""
    calib = np.asarray(calib, dtype=np.float64)
    return vertices @ calib[:3, :3].T + calib[:3, 3]


def colors_with_share(mesh, evidence, mode, delight, shares, harshness=None):
    """``surface_colors`` with other blend shares (None: the shipped ones) and the light as
    judged already (None: judged on this mesh)."""
    return surface_colors(mesh, evidence, mode, delight, shares, harshness)


def score_modes(
    mesh_cube: trimesh.Trimesh,
    calib: np.ndarray,
    evidences: dict[str, PhotoEvidence],
    truth: tuple[np.ndarray, np.ndarray],
    k: int,
    judged: dict[str, float],
) -> dict[str, dict[str, float]]:
    """PATD / PIPATD of every mode (and every net's net and blend modes) on one mesh; the
    blend takes each net's light as ``judged`` on the reconstruction of the photo."""
    pred = to_subject_frame(np.asarray(mesh_cube.vertices), calib)
    out = {}
    for net_name, evidence in evidences.items():
        for label, (mode, delight, *rest) in MODES.items():
            share = rest[0] if rest else None  # (seen, unseen) net shares
            if net_name != "shipped" and mode == "photo":
                continue  # the photo modes do not depend on the net
            name = label if net_name == "shipped" else f"{net_name}:{label}"
            colors = colors_with_share(mesh_cube, evidence, mode, delight, share, judged[net_name])
            out[name] = color_metrics(pred, colors, *truth, k=k)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--subjects", help="comma-separated (default: all)")
    parser.add_argument("--yaws", default="0,90,180,270")
    parser.add_argument("--lights", default="wild,intermediate,clear")
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--nets", default="", help="name=checkpoint,... other colour nets")
    parser.add_argument(
        "--shares",
        default="",
        help="more blend net shares to score: UNSEEN or SEEN/UNSEEN, e.g. 0.5,0.25/0.75",
    )
    parser.add_argument("-o", "--out", type=Path)
    args = parser.parse_args()
    for share in filter(None, args.shares.split(",")):
        seen, _, unseen = share.rpartition("/")
        pair = (float(seen or surface_colors_module.CLEAR_SHARES[0]), float(unseen))
        MODES[f"blend(share {share})"] = ("blend", False, pair)

    from pifuhd.checkpoint.color import load_color

    checkpoint = default_checkpoint()
    rec = Reconstructor(checkpoint, resolution=args.resolution, texture=True, texture_mode="net")
    coarse_images = []  # the coarse image of the last photo, for the other nets' features
    shipped_encode = rec.color_features

    def keep_coarse(coarse):
        coarse_images[:] = [coarse]
        return shipped_encode(coarse)

    rec.color_features = keep_coarse
    others = {}  # other colour nets on the same geometry and photo
    for item in filter(None, args.nets.split(",")):
        name, path = item.split("=", 1)
        others[name] = load_color(path, rec.device)[0].eval()
    subjects = (
        args.subjects.split(",")
        if args.subjects
        else sorted(p.name for p in (args.data / "subjects").iterdir())
    )
    yaws = tuple(float(y) for y in args.yaws.split(","))
    rows: list[dict] = []
    start = time.perf_counter()
    for name in subjects:
        folder = args.data / "subjects" / name
        truth = load_mesh_colors(folder / "mesh.ply")
        faces = np.asarray(trimesh.load(folder / "mesh.ply", process=False).faces)
        for view in view_records(folder, yaws):
            mask = png(folder / "mask" / view["file"])[..., 0] > 0.5
            truth_cube = trimesh.Trimesh(to_cube(truth[0], view["calib"]), faces, process=False)
            for light in args.lights.split(","):
                photo = composite(png(folder / f"rgb_{light}" / view["file"]), mask)
                size = photo.shape[0]
                recon = rec(photo, rect=f"0 0 {size} {size}")
                evidence = recon.color_evidence
                evidences = {"shipped": evidence}
                features = evidence.net.args[0]  # partial(rec.vertex_colors, features, ...)
                for other, net in others.items():  # its own features of the same photo
                    with torch.inference_mode():
                        encoded = net.encode(coarse_images[0])
                    sharp = evidence.net.keywords.get("photo")  # the filled fine crop
                    query = partial(rec.vertex_colors, features, encoded, color=net, photo=sharp)
                    aware = net.config.light_input
                    evidences[other] = PhotoEvidence(evidence.image, query, aware)
                row = {"subject": name, "yaw": view["yaw"], "light": light}
                judged = {n: judge_light(recon.mesh, e) for n, e in evidences.items()}
                row["harshness"] = judged
                for key, mesh in (("recon", recon.mesh), ("true", truth_cube)):
                    row[key] = score_modes(mesh, view["calib"], evidences, truth, args.k, judged)
                rows.append(row)
                print(
                    f"{name}@{view['yaw']:g} {light}: "
                    + ", ".join(
                        f"{m} {row['recon'][m]['patd']:.1f}/{row['true'][m]['patd']:.1f}"
                        for m in ("photo", "net", "blend")
                    )
                    + f" [{time.perf_counter() - start:.0f} s]",
                    file=sys.stderr,
                    flush=True,
                )
    report(rows, args.k)
    if args.out:
        args.out.write_text(json.dumps({"k": args.k, "rows": rows}, indent=1))


def report(rows: list[dict], k: int) -> None:
    """Mean PATD / PIPATD per light, mode and geometry."""
    table: dict = defaultdict(list)
    for row in rows:
        for geometry in ("true", "recon"):
            for mode, scores in row[geometry].items():
                table[(row["light"], geometry, mode)].append((scores["patd"], scores["pipatd"]))
    lights = sorted({row["light"] for row in rows})
    modes = list(rows[0]["true"])
    print(f"PATD / PIPATD (CIEDE2000, k = {k}), {len(rows) // len(lights)} views per light")
    print("| light | mode | true geometry | reconstructed geometry |")
    print("|---|---|---|---|")
    for light in lights:
        for mode in modes:
            cells = []
            for geometry in ("true", "recon"):
                values = np.array(table[(light, geometry, mode)])
                cells.append(f"{values[:, 0].mean():.2f} / {values[:, 1].mean():.2f}")
            print(f"| {light} | {mode} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
