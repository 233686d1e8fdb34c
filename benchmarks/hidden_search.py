"""The hidden side's averaging (``surface_colors.smooth_over``) scored with PATD and PIPATD on
``benchmarks/blend_search.py``'s cached reconstructions (issue 21, session 40).

Each variant is the shipped light-following blend (``surface_colors.light_blend``) with the
hidden side averaged over LENGTH cube units, keeping colour edges of CONTRAST (CIELAB) or,
with ``none``, a plain mean; ``0/none`` is no averaging. The light is judged once per photo,
on the reconstruction, as a run judges it. Prints PATD / PIPATD (``pifuhd.eval.color_metrics``,
k nearest true vertices) per light x geometry ("true": the true mesh's vertices; "recon": the
reconstruction's) for the photo alone, the net alone and each variant, then each variant's
worst margin over the better of the photo and the net, in PATD and in PIPATD:

    python3 benchmarks/blend_search.py --data val_color --cache blend_cache   # once
    python3 benchmarks/hidden_search.py --cache blend_cache 0/none 0.05/none 0.15/10
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import trimesh
from blend_search import told, view_inputs

import pifuhd.photo_light as pl
import pifuhd.surface_colors as sc
from pifuhd.eval.color_metrics import DEFAULT_K, color_metrics
from pifuhd.eval.heldout import to_subject_frame

LIGHTS = ("wild", "intermediate", "clear")


def parse_variant(text: str) -> tuple[float, float | None]:
    """'LENGTH/CONTRAST' -> (length, contrast or None for 'none')."""
    length, contrast = text.split("/")
    return float(length), None if contrast == "none" else float(contrast)


def view_scores(z, variants: list[str], k: int) -> dict:
    """{(name, geometry): (PATD, PIPATD)} for one cached view."""
    colors = z["truth_colors"].astype(np.float64)
    colors = colors / 255.0 if colors.max() > 1.5 else colors
    truth = (to_subject_frame(z["t_vertices"], z["calib"]), colors)
    harshness = None
    out = {}
    for geometry in ("r", "t"):  # the reconstruction first: its judgement colours both
        v = view_inputs(z, geometry)
        if harshness is None:
            well = v["weight"] > sc.WELL_SEEN
            harshness = pl.light_harshness(v["photo"], v["net"], v["normals"], well)
        net = told(v, harshness)
        mesh = trimesh.Trimesh(z[f"{geometry}_vertices"], z[f"{geometry}_faces"], process=False)
        candidates = {"photo": v["photo"], "net": net}
        for text in variants:
            length, contrast = parse_variant(text)
            smooth = sc.smooth_over(mesh, length, contrast) if length > 0 else None
            candidates[text] = sc.light_blend(
                v["weight"], v["photo"], net, v["normals"], harshness=harshness, smooth=smooth
            )[0]
        predicted = to_subject_frame(z[f"{geometry}_vertices"], z["calib"])
        for name, values in candidates.items():
            m = color_metrics(predicted, np.clip(values, 0.0, 1.0), *truth, k=k)
            out[(name, geometry)] = (m["patd"], m["pipatd"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, action="append", required=True)
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("variants", nargs="+", help="LENGTH/CONTRAST, e.g. 0.15/10 or 0.05/none")
    args = parser.parse_args()
    for text in args.variants:
        parse_variant(text)  # fail before the long part
    start = time.perf_counter()
    scores: dict = defaultdict(list)
    files = [p for c in args.cache for p in sorted(c.glob("*.npz")) if ".tmp" not in p.name]
    if not files:
        raise SystemExit(f"no cached views in {args.cache}: run benchmarks/blend_search.py first")
    for path in files:
        light = path.stem.rsplit("_", 1)[1]
        for (name, geometry), pair in view_scores(np.load(path), args.variants, args.k).items():
            scores[(name, light, geometry)].append(pair)
    names = ["photo", "net", *args.variants]
    lights = [li for li in LIGHTS if any(key[1] == li for key in scores)]
    cells = [(li, g) for li in lights for g in ("t", "r")]
    mean = {key: np.mean(value, axis=0) for key, value in scores.items()}
    print(f"PATD / PIPATD, k = {args.k}, {len(files)} views ({time.perf_counter() - start:.0f} s)")
    print("| light | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for li, g in cells:
        label = f"{li}, {'true' if g == 't' else 'recon'}"
        row = " | ".join(f"{mean[(n, li, g)][0]:.2f} / {mean[(n, li, g)][1]:.2f}" for n in names)
        print(f"| {label} | {row} |")
    for name in args.variants:
        margins = np.array(
            [
                np.minimum(mean[("photo", li, g)], mean[("net", li, g)]) - mean[(name, li, g)]
                for li, g in cells
            ]
        )
        average = np.mean([mean[(name, li, g)][0] for li, g in cells])
        print(
            f"{name}: worst margin PATD {margins[:, 0].min():+.2f}, PIPATD "
            f"{margins[:, 1].min():+.2f}; mean PATD {average:.2f}"
        )


if __name__ == "__main__":
    main()
