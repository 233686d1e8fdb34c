"""Render avatar GLBs through a clip: one row per avatar, one tile per moment, shaded.

    python3 tools/avatar_frames.py A.glb B.glb --clip walk --moments 4 --yaws 0,90 -o strip.png

Each tile is the avatar skinned as a glTF viewer does (``pifuhd.avatar.gltf.skinned_vertices``)
at an evenly spaced moment of the clip (linear interpolation of the keyframes' translations,
normalised-linear of their rotations), seen from each yaw (degrees, 0 = the front).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from pifuhd.avatar.gltf import Clip, read_avatar_glb, skinned_vertices
from pifuhd.data.asset import MeshAsset
from pifuhd.data.render import SubjectRenderer

LIGHT = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])


def clip_pose(clip: Clip, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint translations and rotations of ``clip`` at ``t`` seconds (clamped)."""
    t = float(np.clip(t, clip.times[0], clip.times[-1]))
    k = int(np.clip(np.searchsorted(clip.times, t, side="right") - 1, 0, len(clip.times) - 2))
    span = clip.times[k + 1] - clip.times[k]
    a = 0.0 if span <= 0 else (t - clip.times[k]) / span
    trans = (1 - a) * clip.translations[k] + a * clip.translations[k + 1]
    q0, q1 = clip.rotations[k], clip.rotations[k + 1]
    q1 = np.where((q0 * q1).sum(-1, keepdims=True) < 0, -q1, q1)
    rot = (1 - a) * q0 + a * q1
    return trans, rot / np.linalg.norm(rot, axis=-1, keepdims=True)


def tile(
    vertices_m: np.ndarray, faces: np.ndarray, yaw: float, size: int, centre_y: float
) -> np.ndarray:
    """(size, size, 3) float normal-shaded render of a mesh in the avatar frame (metres),
    ``centre_y`` (metres) at the middle of the picture."""
    cm = 100.0 * (vertices_m - [0.0, centre_y, 0.0])
    renderer = SubjectRenderer(MeshAsset(vertices=cm, faces=faces), prt_dirs=1)
    maps = renderer.render(yaw, size, np.zeros((9, 3)))
    shade = np.clip(maps.normal_front @ LIGHT, 0.0, 1.0) * 0.75 + 0.2
    return np.where(maps.mask[..., None], shade[..., None] * [0.85, 0.9, 1.0], 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("avatars", nargs="+", type=Path)
    parser.add_argument("--clip", default="walk")
    parser.add_argument("--moments", type=int, default=4)
    parser.add_argument("--yaws", default="0,90")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--photos", nargs="*", type=Path, default=[], help="one per avatar")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    yaws = [float(y) for y in args.yaws.split(",")]
    rows = []
    for index, path in enumerate(args.avatars):
        avatar = read_avatar_glb(path)
        clip = next(c for c in avatar.clips if c.name == args.clip)
        tiles = []
        if index < len(args.photos):
            with Image.open(args.photos[index]) as im:
                photo = im.convert("RGB").resize((args.size, args.size))
            tiles.append(np.asarray(photo, np.float64) / 255.0)
        centre_y = 0.5 * float(avatar.vertices[:, 1].max() + avatar.vertices[:, 1].min())
        for yaw in yaws:
            for m in range(args.moments):
                t = clip.times[-1] * m / args.moments
                v = skinned_vertices(avatar, *clip_pose(clip, t))
                tiles.append(tile(v, avatar.faces, yaw, args.size, centre_y))
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    Image.fromarray((np.clip(sheet, 0, 1) * 255).astype(np.uint8)).save(args.out)
    print(f"wrote {args.out}: {len(rows)} avatars x {len(yaws)} yaws x {args.moments} moments")


if __name__ == "__main__":
    main()
