"""A picture of the pipeline's guards on held-out synthetic people (``docs/guards_comparison.png``).

One row per person (a view of a ``pifuhd prepare`` folder, composited as ``pifuhd evaluate``
composites it): the photo; the bundled model without guards (``--no-carve``: what it gave
before issue 18) from the front and from the side; the same model with its default guards
(mask, carving, depth bounded by the fitted body) from the front and the side; the truth from
the side. Every mesh is drawn orthographically in the view's cube.

    python3 tools/guards_figure.py --data held_data --subjects person_00000,person_00003 \\
        -o docs/guards_comparison.png

With ``--before A`` the two middle pairs compare two checkpoints instead, each with the guards
its config records (``--after``: the bundled model unless given):

    python3 tools/guards_figure.py --data held_data --subjects person_00000,person_00003 \\
        --before old_default --yaw 0 -o docs/model_comparison.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pifuhd.data.asset import CUBE_HALF_CM, MeshAsset
from pifuhd.data.render import SubjectRenderer
from pifuhd.demo import composite
from pifuhd.eval.evaluate import load_mesh_arrays
from pifuhd.eval.heldout import _png, view_records
from pifuhd.inference import Reconstructor
from pifuhd.inference_settings import InferenceSettings
from pifuhd.weights import default_checkpoint

TILE = 256
CAPTIONS = ("photo", "no guards: front", "side", "guards: front", "side", "truth: side")
COMPARE_CAPTIONS = ("photo", "before: front", "side", "after: front", "side", "truth: side")


def shaded(vertices: np.ndarray, faces: np.ndarray, yaw: float) -> np.ndarray:
    """(TILE, TILE, 3) grey shading of a cube-frame mesh seen from ``yaw`` degrees about y."""
    asset = MeshAsset(vertices=vertices * CUBE_HALF_CM, faces=faces)
    maps = SubjectRenderer(asset, prt_dirs=1).render(yaw, TILE, np.zeros((9, 3)))
    light = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
    shade = np.clip(maps.normal_front @ light, 0.0, 1.0) * 0.7 + 0.25
    return np.where(maps.mask[..., None], shade[..., None] * [0.85, 0.9, 1.0], 1.0)


def row(folder: Path, yaw: float, bare: Reconstructor, guarded: Reconstructor) -> list[np.ndarray]:
    view = view_records(folder, (yaw,))[0]
    rgb = _png(folder / "rgb" / view["file"])
    mask = _png(folder / "mask" / view["file"])[..., 0] > 0.5
    photo = composite(rgb, mask)
    size = photo.shape[0]
    tiles = [np.asarray(Image.fromarray((photo * 255).astype(np.uint8)).resize((TILE, TILE))) / 255]
    for rec in (bare, guarded):
        mesh = rec(photo, rect=f"0 0 {size} {size}").mesh
        v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
        tiles += [shaded(v, f, 0.0), shaded(v, f, 90.0)]
    truth_v, truth_f = load_mesh_arrays(folder / "mesh.ply")
    calib = np.asarray(view["calib"], dtype=np.float64)
    cube = truth_v @ calib[:3, :3].T + calib[:3, 3]
    tiles.append(shaded(cube, truth_f, 90.0))
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a prepared data folder")
    parser.add_argument("--subjects", required=True, help="comma-separated subject names")
    parser.add_argument("--yaw", type=float, default=0.0)
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/guards_comparison.png"))
    parser.add_argument("--before", type=Path, help="compare this checkpoint with --after")
    parser.add_argument("--after", type=Path, help="with --before (default: the bundled model)")
    args = parser.parse_args()
    checkpoint = args.after or default_checkpoint()
    guarded = Reconstructor(checkpoint, device="cpu", resolution=args.resolution)
    if args.before is None:
        none = InferenceSettings(background="keep", carve=False, fragment_share=0.0)
        bare = Reconstructor(checkpoint, device="cpu", resolution=args.resolution, settings=none)
    else:
        bare = Reconstructor(args.before, device="cpu", resolution=args.resolution)
    rows = [
        np.concatenate(row(args.data / "subjects" / s, args.yaw, bare, guarded), axis=1)
        for s in args.subjects.split(",")
    ]
    sheet = np.concatenate(rows, axis=0)
    image = Image.fromarray((np.clip(sheet, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(CAPTIONS if args.before is None else COMPARE_CAPTIONS):
        draw.text((i * TILE + 6, 4), text, fill=(0, 0, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)


if __name__ == "__main__":
    main()
