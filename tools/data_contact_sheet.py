"""Contact sheet of prepared training data: colour, front/back normals and mask per subject.

    python3 tools/data_contact_sheet.py DATA/ docs/synth_contact_sheet.png --subjects 6

One row per (subject, view); columns: colour render, front normals, back normals, mask.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

MAPS = ("rgb", "normal_front", "normal_back", "mask")


def tile(path: Path, size: int) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB").resize((size, size), Image.Resampling.BOX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--tile", type=int, default=192)
    parser.add_argument("--views", default="0,0.25", help="fractions of the turn to show")
    args = parser.parse_args()

    subjects = sorted(p.parent for p in (args.data / "subjects").glob("*/subject.json"))
    subjects = subjects[: args.subjects]
    fractions = [float(f) for f in args.views.split(",")]
    rows = []
    for folder in subjects:
        views = json.loads((folder / "views.json").read_text())["views"]
        for fraction in fractions:
            view = views[round(fraction * len(views)) % len(views)]
            rows.append((folder.name, view))
    # two rows side by side per sheet row: subject at both views
    per_row = len(fractions) * len(MAPS)
    n_rows = len(subjects)
    size = args.tile
    label = 18
    sheet = Image.new("RGB", (per_row * size, n_rows * (size + label)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, folder in enumerate(subjects):
        y = r * (size + label)
        draw.text((4, y + 3), folder.name, fill=(0, 0, 0))
        for v, (_, view) in enumerate(row for row in rows if row[0] == folder.name):
            for m, name in enumerate(MAPS):
                x = (v * len(MAPS) + m) * size
                sheet.paste(tile(folder / name / view["file"], size), (x, y + label))
            caption = f"yaw {view['yaw']:.0f}: " + ", ".join(MAPS)
            draw.text((v * len(MAPS) * size + 120, y + 3), caption, fill=(0, 0, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.size[0]}x{sheet.size[1]})")


if __name__ == "__main__":
    main()
