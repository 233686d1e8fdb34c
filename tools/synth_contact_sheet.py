"""Contact sheet of synthetic people: front and side views, flat-shaded, textured.

An orthographic ray caster (trimesh + embree when available) that reads back the written
``mesh.obj`` / ``mesh.mtl`` / ``texture.png`` exactly as a scan pipeline would, so the sheet also
checks the files. For looking at results only; the project's renderer lives in ``data/render.py``.

Run:
    ANNY_CACHE_DIR=/work/cache/anny python tools/synth_contact_sheet.py OUT_DIR [--n 8] \
        [--seed 0] [--sheet /tmp/synth_sheet.png] [--size 320]
It writes (or reuses) ``OUT_DIR/person_*/`` with ``pifuhd.synth.people.synth_people``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw

from pifuhd.data.asset import MeshAsset, view_rotation


def load_asset(folder: Path) -> MeshAsset:
    """``folder/mesh.obj`` with its texture as a :class:`MeshAsset` (cm, y up, faces +z)."""
    mesh = trimesh.load(folder / "mesh.obj", process=False, force="mesh")
    visual = mesh.visual
    image = np.asarray(visual.material.image.convert("RGB"), np.float32) / 255.0
    return MeshAsset(
        vertices=np.asarray(mesh.vertices, np.float64),
        faces=np.asarray(mesh.faces, np.int64),
        uv=np.asarray(visual.uv, np.float32),
        texture=image,
        name=folder.name,
    )


def render_view(asset: MeshAsset, yaw: float, size: int, extent: float) -> np.ndarray:
    """(size, size, 3) uint8 orthographic view from ``yaw`` (degrees, 0 = front).

    The image spans ``[-extent/2, extent/2]`` cm horizontally around x = 0 and ``[0, extent]``
    cm vertically (the floor at the bottom). Flat shading: albedo * (0.35 + 0.65 |n . view|).
    """
    rot = view_rotation(yaw)
    verts = asset.vertices @ rot.T
    mesh = trimesh.Trimesh(verts, asset.faces, process=False)
    xs = (np.arange(size) + 0.5) / size * extent - extent / 2
    ys = extent - (np.arange(size) + 0.5) / size * extent
    gx, gy = np.meshgrid(xs, ys)
    origins = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, 1000.0)], axis=1)
    dirs = np.broadcast_to([0.0, 0.0, -1.0], origins.shape)
    tri, ray, loc = mesh.ray.intersects_id(
        origins, dirs, multiple_hits=False, return_locations=True
    )
    image = np.full((size * size, 3), 0.93, np.float32)
    if len(tri):
        bary = trimesh.triangles.points_to_barycentric(mesh.triangles[tri], loc)
        albedo = asset.albedo(tri, np.clip(bary, 0.0, 1.0))
        shade = 0.35 + 0.65 * np.abs(mesh.face_normals[tri][:, 2:3])
        image[ray] = albedo * shade
    return (np.clip(image.reshape(size, size, 3), 0, 1) * 255).astype(np.uint8)


def contact_sheet(folders: list[Path], size: int = 320, extent: float = 200.0) -> Image.Image:
    """Two views (front, side) per person, one person per column pair, names underneath."""
    cols = len(folders)
    sheet = Image.new("RGB", (cols * 2 * size, size + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for i, folder in enumerate(folders):
        asset = load_asset(folder)
        for j, yaw in enumerate((0.0, 90.0)):
            view = render_view(asset, yaw, size, extent)
            sheet.paste(Image.fromarray(view), ((2 * i + j) * size, 0))
        draw.text((2 * i * size + 4, size + 2), folder.name, fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--sheet", type=Path, default=Path("/tmp/synth_sheet.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    from pifuhd.synth.people import synth_people

    folders = synth_people(args.n, args.out, seed=args.seed)
    per_row = -(-len(folders) // args.rows)
    rows = [
        contact_sheet(folders[k : k + per_row], args.size) for k in range(0, len(folders), per_row)
    ]
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    sheet.save(args.sheet)
    logging.info("wrote %s", args.sheet)


if __name__ == "__main__":
    main()
