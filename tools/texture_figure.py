"""A picture of textured reconstructions next to the ground truth, for held-out subjects.

    python tools/texture_figure.py --data DATA --subjects person_00001,person_00004 \\
        --light wild -c photo=default@photo -c net=default@net -c blend=default@blend \\
        -o docs/texture_comparison.png

``-c LABEL=PATH[@MODE]``: a checkpoint (``default``: the bundled one) and its texture mode
(``pifuhd.surface_colors``: blend, photo or net; default blend).

One row per subject: the photo (the view at yaw 0 under ``--light``), then for each checkpoint
its reconstruction's vertex colours (albedo, unshaded) seen from the front and the back, then
the ground truth's albedo from the same two sides. Meshes are rendered in the subject frame by
the data renderer (orthographic, the photo's camera), so every tile is framed alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pifuhd.data.asset import MeshAsset
from pifuhd.data.render import SubjectRenderer
from pifuhd.eval.evaluate import load_mesh_arrays, load_mesh_colors
from pifuhd.eval.heldout import to_subject_frame, view_records
from pifuhd.inference import Reconstructor
from pifuhd.io.atomic import atomic_write
from pifuhd.weights import default_checkpoint

TILE = 256
CAPTION = 16


def albedo_views(asset: MeshAsset, size: int) -> list[np.ndarray]:
    """Unshaded albedo renders from the front (yaw 0) and the back (yaw 180) on white."""
    renderer = SubjectRenderer(asset, prt_dirs=1)
    tiles = []
    for yaw in (0.0, 180.0):
        maps = renderer.render(yaw, size, np.zeros((9, 3)))
        tiles.append(np.where(maps.mask[..., None], maps.albedo, 1.0).astype(np.float32))
    return tiles


def load_photo(path: Path) -> np.ndarray:
    """(S, S, 3) float32 sRGB in [0, 1]."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def subject_row(
    data: Path, subject: str, light: str, models: dict[str, Reconstructor]
) -> list[np.ndarray]:
    """Photo, each model's front/back albedo, the truth's front/back albedo."""
    folder = data / "subjects" / subject
    view = view_records(folder, (0.0,))[0]
    photo_path = folder / (light if light.startswith("rgb") else f"rgb_{light}") / view["file"]
    photo = load_photo(photo_path)
    mask = load_photo(folder / "mask" / view["file"])[..., 0] > 0.5
    grey = np.float32(0.75)
    composited = np.where(mask[..., None], photo, grey)
    size = photo.shape[0]
    row = [composited]
    for rec in models.values():
        result = rec(composited, rect=f"0 0 {size} {size}")
        vertices = to_subject_frame(np.asarray(result.mesh.vertices), view["calib"])
        colors = np.asarray(result.mesh.visual.vertex_colors)[:, :3].astype(np.float32) / 255.0
        asset = MeshAsset(
            vertices=vertices, faces=np.asarray(result.mesh.faces), vertex_colors=colors
        )
        row += albedo_views(asset, size)
    truth_vertices, truth_faces = load_mesh_arrays(folder / "mesh.ply")
    _, truth_colors = load_mesh_colors(folder / "mesh.ply")
    truth = MeshAsset(
        vertices=truth_vertices, faces=truth_faces, vertex_colors=truth_colors.astype(np.float32)
    )
    return row + albedo_views(truth, size)


def fit(image: np.ndarray) -> np.ndarray:
    pil = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
    return np.asarray(pil.resize((TILE, TILE), Image.Resampling.BOX), np.float32) / 255.0


def sheet(rows: list[list[np.ndarray]], captions: list[str]) -> Image.Image:
    """Rows of tiles under one caption line per column."""
    body = np.concatenate([np.concatenate([fit(t) for t in row], axis=1) for row in rows])
    image = Image.new("RGB", (body.shape[1], body.shape[0] + CAPTION), (255, 255, 255))
    image.paste(Image.fromarray((body * 255).astype(np.uint8)), (0, CAPTION))
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(captions):
        draw.text((i * TILE + 4, 2), text, fill=(0, 0, 0))
    return image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--subjects", required=True, help="comma-separated subject folders")
    p.add_argument("--light", default="wild", help="rgb, wild, intermediate or clear")
    p.add_argument("-c", "--checkpoint", action="append", required=True, help="LABEL=PATH")
    p.add_argument("-r", "--resolution", type=int, default=256)
    p.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args()
    models = {}
    for item in args.checkpoint:
        label, _, spec = item.partition("=")
        path, _, mode = spec.partition("@")
        checkpoint = default_checkpoint() if path == "default" else path
        models[label] = Reconstructor(
            checkpoint, "cpu", args.resolution, texture=True, texture_mode=mode or "blend"
        )
    rows = [subject_row(args.data, s, args.light, models) for s in args.subjects.split(",")]
    captions = [f"photo ({args.light})"]
    for label in models:
        captions += [f"{label}: front", f"{label}: back"]
    captions += ["ground truth: front", "ground truth: back"]
    with atomic_write(args.out) as tmp:
        sheet(rows, captions).save(tmp, format="PNG")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
