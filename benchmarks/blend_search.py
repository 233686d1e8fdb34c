"""Blend rules of ``pifuhd.surface_colors`` scored on cached reconstructions (issue 21).

The blend's shares were chosen with this script on validation people (``docs/training.md``,
"Colour by texture mode"): each view and light of a prepared data folder is reconstructed once
(the photo as ``benchmarks/color_eval.py`` makes it) and cached with the colour net's colours at
the reconstructed and at the true vertices; then every rule is scored from the cache in
seconds. PATD (CIEDE2000 to the nearest true vertex, ``pifuhd.eval.color_metrics``) per light
and geometry ("true": the true mesh's vertices; "recon": the reconstruction's):

    python3 benchmarks/blend_search.py --data val_color --cache blend_cache [--color CHECKPOINT]

Rules: the photo alone, the net alone, fixed net shares (seen / hidden, a grid of quarters)
and the shipped light-following rule; ``--rule CLEAR/HARSH/CONTRAST/SPREAD`` adds other
light-following rules, e.g. ``0.1,0.25/0.5,0.75/0.05,0.065/0.028,0.038`` (shares under soft
light, under harsh light, and the ramps of ``pifuhd.photo_light``'s two cues). The light is
judged once per photo, on the reconstruction, and that judgement colours the true geometry too,
as a run would judge it (``--own-light``: judged on each geometry). Prints the harshness and
cue percentiles per light too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import trimesh
from color_eval import png, to_cube
from scipy.spatial import cKDTree

import pifuhd.photo_light as pl
import pifuhd.surface_colors as sc
from pifuhd.demo import composite
from pifuhd.eval.color_metrics import ciede2000, srgb_to_lab
from pifuhd.eval.evaluate import load_mesh_colors
from pifuhd.eval.heldout import to_subject_frame, view_records
from pifuhd.geometry.normal_refine import visible_from

QUARTERS = (0.0, 0.25, 0.5, 0.75, 1.0)


def cache_views(args: argparse.Namespace) -> list[Path]:
    """Reconstruct every view x light once; (recon and true vertices, faces, net colours,
    photo crop, truth) per file. Files already there are kept."""
    from pifuhd.checkpoint.color import load_color
    from pifuhd.inference import Reconstructor
    from pifuhd.weights import default_checkpoint

    args.cache.mkdir(parents=True, exist_ok=True)
    rec = None
    files = []
    yaws = tuple(float(y) for y in args.yaws.split(","))
    for folder in sorted((args.data / "subjects").iterdir()):
        truth = load_mesh_colors(folder / "mesh.ply")
        faces = np.asarray(trimesh.load(folder / "mesh.ply", process=False).faces)
        for view in view_records(folder, yaws):
            for light in args.lights.split(","):
                out = args.cache / f"{folder.name}_{view['yaw']:g}_{light}.npz"
                files.append(out)
                if out.exists():
                    continue
                if rec is None:
                    color = None
                    if args.color:
                        color = load_color(args.color, "cpu")[0].eval()
                    rec = Reconstructor(
                        default_checkpoint(), resolution=args.resolution, texture=True, color=color
                    )
                mask = png(folder / "mask" / view["file"])[..., 0] > 0.5
                photo = composite(png(folder / f"rgb_{light}" / view["file"]), mask)
                size = photo.shape[0]
                result = rec(photo, rect=f"0 0 {size} {size}")
                evidence = result.color_evidence
                true_cube = to_cube(truth[0], view["calib"])
                recon = np.asarray(result.mesh.vertices)
                arrays = {
                    "r_vertices": recon,
                    "r_faces": np.asarray(result.mesh.faces),
                    "t_vertices": true_cube,
                    "t_faces": faces,
                    "truth_colors": truth[1],
                    "calib": np.asarray(view["calib"]),
                    "image": evidence.image.astype(np.float32),
                    "r_net": evidence.net(recon),
                    "t_net": evidence.net(true_cube),
                    "body": np.zeros((0, 3)) if result.body is None else result.body[0],
                }
                if evidence.light_aware:  # the net told the softest light (r_net: harsh)
                    arrays["r_net_soft"] = evidence.net(recon, 0.0)
                    arrays["t_net_soft"] = evidence.net(true_cube, 0.0)
                partial = out.with_suffix(".tmp.npz")
                np.savez_compressed(partial, **arrays)
                partial.rename(out)
                print(f"cached {out.name}", file=sys.stderr, flush=True)
    return files


def view_inputs(z, geometry: str) -> dict:
    """What every rule needs for one cached view on one geometry."""
    mesh = trimesh.Trimesh(z[f"{geometry}_vertices"], z[f"{geometry}_faces"], process=False)
    seen = visible_from(mesh, 1.0)
    truth_sub = to_subject_frame(z["t_vertices"], z["calib"])
    _, near = cKDTree(truth_sub).query(to_subject_frame(z[f"{geometry}_vertices"], z["calib"]))
    colors = z["truth_colors"].astype(np.float64)
    colors = colors / 255.0 if colors.max() > 1.5 else colors
    weight = sc.photo_weight(mesh, seen)
    soft = f"{geometry}_net_soft"
    return {
        "photo": sc.photo_colors(mesh, z["image"], seen),
        "net": z[f"{geometry}_net"].astype(np.float64),
        "net_soft": z[soft].astype(np.float64) if soft in z else None,
        "weight": weight,
        "normals": np.asarray(mesh.vertex_normals),
        "truth_lab": srgb_to_lab(colors[near]),
        "smooth": sc.smooth_over(mesh),  # the hidden side's averaging, as the blend does
    }


def light_rule(v: dict, clear, harsh, contrast, spread, harshness=None) -> tuple[np.ndarray, float]:
    """The light-following blend with the given constants; (colours, harshness). The light is
    judged on this geometry unless ``harshness`` is given."""
    sc.CLEAR_SHARES, sc.HARSH_SHARES = clear, harsh
    pl.CONTRAST_RAMP, pl.SPREAD_RAMP = contrast, spread
    if harshness is None:  # judged with the net not told the light, as ``surface_colors``
        harshness = pl.light_harshness(
            v["photo"], v["net"], v["normals"], v["weight"] > sc.WELL_SEEN
        )
    net = told(v, harshness)
    return sc.light_blend(
        v["weight"], v["photo"], net, v["normals"], harshness=harshness, smooth=v["smooth"]
    )


def told(v: dict, harshness: float) -> np.ndarray:
    """The net's colours when told the light: for a light-aware net, between its answers for
    the softest and the harshest light (exact at 0 and 1, where nearly every view lands)."""
    if v["net_soft"] is None:
        return v["net"]
    return (1.0 - harshness) * v["net_soft"] + harshness * v["net"]


def cues(v: dict) -> tuple[float, float]:
    """``pifuhd.photo_light``'s two cues on one geometry: (shading contrast, irradiance
    spread)."""
    well = v["weight"] > sc.WELL_SEEN
    irradiance = pl.net_irradiance(v["photo"], v["net"], v["normals"], well)
    return (
        pl.shading_contrast(v["photo"], v["net"], v["normals"], well),
        pl.irradiance_spread(irradiance, well),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--color", help="a checkpoint whose colour net to use (default: bundled)")
    parser.add_argument("--yaws", default="0,90,180,270")
    parser.add_argument("--lights", default="wild,intermediate,clear")
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("--rule", action="append", default=[], help="CLEAR/HARSH/CONTRAST/SPREAD")
    parser.add_argument("--own-light", action="store_true", help="judge the light on each geometry")
    args = parser.parse_args()
    shipped = (sc.CLEAR_SHARES, sc.HARSH_SHARES, pl.CONTRAST_RAMP, pl.SPREAD_RAMP)
    rules = {"light (shipped)": shipped}
    for text in args.rule:
        parts = tuple(tuple(float(x) for x in part.split(",")) for part in text.split("/"))
        rules[f"light {text}"] = parts
    start = time.perf_counter()
    files = cache_views(args)
    scores: dict = defaultdict(list)
    judged: dict = defaultdict(list)
    for path in files:
        light = path.stem.rsplit("_", 1)[1]
        z = np.load(path)
        recon_harshness: dict = {}
        for geometry in ("r", "t"):  # the reconstruction first: its judgement colours both
            v = view_inputs(z, geometry)
            judged_h = recon_harshness.get("light (shipped)")
            if judged_h is None:  # the recon: judged here with the shipped constants
                sc.CLEAR_SHARES, sc.HARSH_SHARES = shipped[:2]
                pl.CONTRAST_RAMP, pl.SPREAD_RAMP = shipped[2:]
                judged_h = pl.light_harshness(
                    v["photo"], v["net"], v["normals"], v["weight"] > sc.WELL_SEEN
                )
            lit = told(v, judged_h)
            candidates = {"photo": v["photo"], "net": lit}
            for a in QUARTERS:
                for b in QUARTERS:
                    candidates[f"fixed {a}/{b}"] = sc.blend_colors(
                        v["weight"], v["photo"], lit, (a, b), v["smooth"]
                    )
            for name, rule in rules.items():
                given = None if args.own_light else recon_harshness.get(name)
                candidates[name], h = light_rule(v, *rule, harshness=given)
                if geometry == "r":
                    recon_harshness[name] = h
                if name == "light (shipped)":
                    judged[(light, geometry)].append((h, *cues(v)))
            for name, colors in candidates.items():
                lab = srgb_to_lab(np.clip(colors, 0.0, 1.0))
                scores[(name, light, geometry)].append(float(ciede2000(lab, v["truth_lab"]).mean()))
    sc.CLEAR_SHARES, sc.HARSH_SHARES = shipped[:2]
    pl.CONTRAST_RAMP, pl.SPREAD_RAMP = shipped[2:]
    lights = args.lights.split(",")
    names = list(dict.fromkeys(name for name, _, _ in scores))
    print(
        f"PATD, {len(files) // len(lights)} views per light ({time.perf_counter() - start:.0f} s)"
    )
    print("| rule | " + " | ".join(f"{li} true | {li} recon" for li in lights) + " | mean |")
    print("|---|" + "---|" * (2 * len(lights) + 1))
    for name in names:
        cells = [np.mean(scores[(name, li, g)]) for li in lights for g in ("t", "r")]
        print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {np.mean(cells):.2f} |")
    for light in lights:
        for geometry, label in (("r", "reconstruction"), ("t", "true geometry")):
            values = np.array(judged[(light, geometry)])
            pct = np.round(np.percentile(values, [0, 10, 50, 90, 100], axis=0).T, 3).tolist()
            print(
                f"{light}, on the {label}: 0/10/50/90/100 % harshness {pct[0]}, "
                f"shading contrast {pct[1]}, irradiance spread {pct[2]}"
            )


if __name__ == "__main__":
    main()
