"""Where on the body the held-out error is: Chamfer's two directions split by body region.

Reads the reconstructions ``pifuhd evaluate --data DATA --meshes -o OUT`` kept (``OUT/meshes/
subject@yaw.ply``, the truth's frame) and, per view, the synthetic person's skinning (the scan
folder's ``avatar.npz``, one row per vertex of the truth ``mesh.ply``). Each truth point takes
the region of the bone that moves it most (head, torso, upper arms, forearms, hands, thighs,
shins, feet); each reconstructed point the region of the truth point nearest to it. Printed per
region: its share of the truth's area, the mean distance truth -> reconstruction
(completeness: what the reconstruction misses) and reconstruction -> truth (accuracy, the
evaluation's P2S), and each region's share of the two sums. The two "all" means are the
evaluation's Chamfer halves (same sampling: 10,000 points a mesh, seed 0).

    pifuhd evaluate --data held_data --subjects $S -r 256 --meshes -o eval_F
    python3 benchmarks/error_by_region.py eval_F/meshes --data held_data --scans held_scans
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from pifuhd.data.sample import sample_surface
from pifuhd.eval.evaluate import load_mesh_arrays

REGIONS = (
    ("head", ("neck", "head", "eye")),
    ("torso", ("root", "pelvis", "spine", "clavicle", "shoulder")),
    ("upper arms", ("upperarm",)),
    ("forearms", ("lowerarm",)),
    ("hands", ("wrist", "finger", "metacarpal")),
    ("thighs", ("upperleg",)),
    ("shins", ("lowerleg",)),
    ("feet", ("foot", "toe")),
)
NAMES = [name for name, _ in REGIONS]


def bone_region(label: str) -> int:
    """Index into :data:`REGIONS` of an Anny bone label (e.g. 'lowerarm01.L' -> forearms)."""
    for index, (_, prefixes) in enumerate(REGIONS):
        if label.startswith(prefixes):
            return index
    raise ValueError(f"bone {label!r} has no region")


def vertex_regions(avatar: Path, count: int) -> np.ndarray:
    """(V,) region index per truth vertex: the bone with the largest skinning weight."""
    with np.load(avatar) as a:
        indices, weights, labels = a["skin_indices"], a["skin_weights"], a["bone_labels"]
    if len(indices) != count:
        raise SystemExit(f"{avatar}: {len(indices)} skinned vertices, the truth has {count}")
    bone = indices[np.arange(len(indices)), np.argmax(weights, axis=1)]
    table = np.array([bone_region(str(label)) for label in labels])
    return table[bone]


def distances(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray):
    """((N,) distances from points to the mesh, (N,) index of the closest face)."""
    import igl

    sq, face, _ = igl.point_mesh_squared_distance(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
    )
    return np.sqrt(np.maximum(sq, 0.0)), np.asarray(face, dtype=np.int64)


def view_errors(pred, truth, regions: np.ndarray, samples: int) -> dict[str, np.ndarray]:
    """Per region sums for one view: truth area share, completeness and accuracy sums."""
    rng = np.random.default_rng(0)  # the evaluation's order: pred samples, then the truth's
    p, _, _ = sample_surface(*pred, samples, rng)
    g, g_face, g_bary = sample_surface(*truth, samples, rng)
    g_region = regions[truth[1][g_face, np.argmax(g_bary, axis=1)]]
    d_gp, _ = distances(g, *pred)
    d_pg, near_face = distances(p, *truth)
    p_region = regions[truth[1][near_face, 0]]
    k = len(REGIONS)
    return {
        "area": np.bincount(g_region, minlength=k) / samples,
        "complete": np.bincount(g_region, d_gp, minlength=k) / samples,
        "accurate": np.bincount(p_region, d_pg, minlength=k) / samples,
        "accurate_share": np.bincount(p_region, minlength=k) / samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("meshes", type=Path, help="OUT/meshes of `pifuhd evaluate --meshes`")
    parser.add_argument("--data", type=Path, required=True, help="the prepared data scored")
    parser.add_argument("--scans", type=Path, required=True, help="its scans (avatar.npz)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--yaws", default="", help="only these views (e.g. 90,270)")
    args = parser.parse_args()
    files = sorted(args.meshes.glob("*@*.ply"))
    if args.yaws:
        keep = {f"{float(y):g}" for y in args.yaws.split(",")}
        files = [f for f in files if f.stem.split("@")[1] in keep]
    if not files:
        raise SystemExit(f"{args.meshes}: no subject@yaw.ply meshes (evaluate with --meshes)")
    total: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(REGIONS)))
    cache: dict[str, tuple] = {}
    for path in files:
        subject = path.stem.split("@")[0]
        if subject not in cache:
            truth = load_mesh_arrays(args.data / "subjects" / subject / "mesh.ply")
            regions = vertex_regions(args.scans / subject / "avatar.npz", len(truth[0]))
            cache = {subject: (truth, regions)}
        truth, regions = cache[subject]
        for key, value in view_errors(load_mesh_arrays(path), truth, regions, args.samples).items():
            total[key] += value / len(files)
    complete, accurate = total["complete"].sum(), total["accurate"].sum()
    print(f"{len(files)} views of {args.meshes}")
    head = "| region | truth area | truth -> recon (cm) | share | recon -> truth (cm) | share |"
    print(head)
    print("|---|---|---|---|---|---|")
    for i, name in enumerate(NAMES):
        area, share = total["area"][i], total["accurate_share"][i]
        mean_c = total["complete"][i] / max(area, 1e-9)
        mean_a = total["accurate"][i] / max(share, 1e-9)
        print(
            f"| {name} | {area:.1%} | {mean_c:.2f} | {total['complete'][i] / complete:.0%} "
            f"| {mean_a:.2f} | {total['accurate'][i] / accurate:.0%} |"
        )
    print(f"| all | 100% | {complete:.3f} | | {accurate:.3f} | |")
    print(f"Chamfer {(complete + accurate) / 2:.3f} cm (the mean of the two directions)")


if __name__ == "__main__":
    main()
