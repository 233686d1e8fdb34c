"""A picture of body fits on held-out synthetic people (``docs/body_fit.png``).

One row per person and view: the photo (the render over mid-grey), the fitted body drawn over
it, then the fitted body (blue) and the true Anny body (orange; grey where the two coincide)
turned 90 degrees from the camera (what the photo cannot show: depth) and as the camera sees
them, each rendered orthographically in the view's cube with the root depth aligned.

    python3 tools/body_fit_sheet.py --seeds 1000,1003,1007 --yaws 0,90 -o docs/body_fit.png

``--views SEED@YAW,...`` picks views instead of seeds x yaws; ``--off feet,raised`` adds, before
the last tile, the same view of a fit with those ``FitSettings`` switches off (before and after
a rule):

    python3 tools/body_fit_sheet.py --views 1039@90,1027@270 --off feet,raised \
        -o docs/body_fit_mask_rules.png
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from body_fit import normalised_person

from pifuhd.body.fit import FitSettings
from pifuhd.body.photo import fit_people
from pifuhd.body.skinned import JOINT_NAMES
from pifuhd.data.asset import MeshAsset, view_matrix
from pifuhd.data.lighting import light_preset
from pifuhd.data.render import SubjectRenderer
from pifuhd.fit_outputs import overlay_image
from pifuhd.io.crops import CropRect, cube_to_pixel_matrix

TILE = 256
FIT_RGB = np.array([0.35, 0.55, 0.95])
TRUE_RGB = np.array([0.95, 0.6, 0.25])


def shaded(vertices: np.ndarray, faces: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """(TILE, TILE) shade and mask of a cube-frame mesh seen from ``yaw`` degrees about y."""
    renderer = SubjectRenderer(MeshAsset(vertices=vertices * 100.0, faces=faces), prt_dirs=1)
    maps = renderer.render(yaw, TILE, np.zeros((9, 3)))
    light = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
    return np.clip(maps.normal_front @ light, 0.0, 1.0) * 0.7 + 0.25, maps.mask


def pair_view(fit_v: np.ndarray, true_v: np.ndarray, faces: np.ndarray, yaw: float) -> np.ndarray:
    """The two bodies from one direction, the fitted one drawn where it is nearer or alone."""
    s_fit, m_fit = shaded(fit_v, faces, yaw)
    s_true, m_true = shaded(true_v, faces, yaw)
    out = np.ones((TILE, TILE, 3))
    out[m_true] = s_true[m_true, None] * TRUE_RGB
    both = m_fit & m_true
    out[m_fit & ~m_true] = s_fit[m_fit & ~m_true, None] * FIT_RGB
    out[both] = 0.5 * (s_fit[both, None] * FIT_RGB + s_true[both, None] * TRUE_RGB)
    return out


def row(seed: int, yaw: float, off: tuple[str, ...] = ()) -> tuple[list[np.ndarray], str]:
    asset, joints, body_cm = normalised_person(seed)
    maps = SubjectRenderer(asset, prt_dirs=16, seed=0).render(yaw, 1024, light_preset("clear"))
    alpha = maps.mask[..., None].astype(np.float32)
    photo = (maps.rgb * alpha + 0.5 * (1.0 - alpha)).astype(np.float32)
    crop = CropRect(0, 0, 1024, 1024)
    fit = fit_people(photo, crop, max_people=1)[0]
    m = view_matrix(yaw)
    true_v = body_cm @ m[:3, :3].T + m[:3, 3]
    true_root = m[:3, :3] @ joints["root"] + m[:3, 3]

    def aligned(f) -> np.ndarray:
        return f.vertices + np.array([0.0, 0.0, true_root[2] - f.joints["root"][2]])

    fit_v = aligned(fit)
    before = []
    if off:
        settings = dataclasses.replace(FitSettings(), **{name: False for name in off})
        plain = fit_people(photo, crop, max_people=1, settings=settings)[0]
        before = [pair_view(aligned(plain), true_v, plain.faces, 0.0)]
    px = cube_to_pixel_matrix(CropRect(0, 0, 1024, 1024), 1024)
    vert_px = fit.vertices @ px[:3, :3].T + px[:3, 3]
    joints_px = np.array([px[:2, :3] @ fit.joints[n] + px[:2, 3] for n in JOINT_NAMES])
    over = overlay_image(photo, vert_px, fit.faces, joints_px).astype(np.float32) / 255.0
    tiles = [
        np.asarray(Image.fromarray((photo * 255).astype(np.uint8)).resize((TILE, TILE))) / 255.0,
        np.asarray(Image.fromarray((over * 255).astype(np.uint8)).resize((TILE, TILE))) / 255.0,
        # turned 90 degrees about y: the camera's depth axis becomes the picture's x
        pair_view(fit_v, true_v, fit.faces, 90.0),
        *before,
        pair_view(fit_v, true_v, fit.faces, 0.0),
    ]
    notes = "; ".join(fit.warnings)
    return tiles, f"person {seed}, yaw {yaw:.0f}" + (f" ({notes})" if notes else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1000,1003,1007")
    parser.add_argument("--yaws", default="0,90")
    parser.add_argument("--views", default="", help="SEED@YAW,... instead of seeds x yaws")
    parser.add_argument("--off", default="", help="FitSettings switches off for a before tile")
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/body_fit.png"))
    args = parser.parse_args()
    off = tuple(name for name in args.off.split(",") if name)
    unknown = [name for name in off if not isinstance(getattr(FitSettings(), name, None), bool)]
    if unknown:
        raise SystemExit(f"--off {unknown[0]}: not a FitSettings switch (e.g. feet, raised, gait)")
    if args.views:
        views = [(int(v.split("@")[0]), float(v.split("@")[1])) for v in args.views.split(",")]
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
        views = [(s, float(y)) for s in seeds for y in args.yaws.split(",")]
    rows = [row(seed, yaw, off) for seed, yaw in views]
    header = 24
    titles = ["photo", "fit over the photo", "turned 90: fit blue, truth orange", "as photographed"]
    if off:
        titles.insert(3, f"as photographed, without {', '.join(off)}")
    sheet = Image.new("RGB", (len(titles) * TILE, header + len(rows) * (TILE + header)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, title in enumerate(titles):
        draw.text((k * TILE + 6, 6), title, fill="black")
    for i, (tiles, label) in enumerate(rows):
        top = header + i * (TILE + header)
        draw.text((6, top + 4), label, fill="black")
        for k, tile in enumerate(tiles):
            image = Image.fromarray(np.clip(tile * 255.0, 0, 255).astype(np.uint8))
            sheet.paste(image, (k * TILE, top + header))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)


if __name__ == "__main__":
    main()
