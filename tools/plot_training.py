"""Plot training curves from one or more runs' metrics.jsonl into a PNG (Pillow only).

    python3 tools/plot_training.py runs/coarse runs/fine -o docs/training_curves.png

Left panel: training loss (raw, light; moving average, dark) against the step. Right panel:
validation IoU (coarse and fine) against the step. Runs are drawn one after the other along
the step axis in the order given (a run resumed from another continues its steps).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

W, H, PAD = 640, 420, 56
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def read(run: Path) -> list[dict]:
    path = run / "metrics.jsonl" if run.is_dir() else run
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def panel(
    title: str, series: list[tuple[str, list[tuple[float, float]], tuple]], ylabel: str
) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    points = [p for _, s, _ in series for p in s]
    if not points:
        draw.text((PAD, H // 2), "no data", fill="black")
        return img
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    if y1 == y0:
        y1 = y0 + 1.0
    if x1 == x0:
        x1 = x0 + 1.0

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return (
            PAD + (p[0] - x0) / (x1 - x0) * (W - 2 * PAD),
            H - PAD - (p[1] - y0) / (y1 - y0) * (H - 2 * PAD),
        )

    draw.rectangle([PAD, PAD, W - PAD, H - PAD], outline="black")
    for k in range(5):
        fy = y0 + (y1 - y0) * k / 4
        py = xy((x0, fy))[1]
        draw.line([PAD - 4, py, PAD, py], fill="black")
        draw.text((4, py - 6), f"{fy:.3g}", fill="black")
        fx = x0 + (x1 - x0) * k / 4
        px = xy((fx, y0))[0]
        draw.line([px, H - PAD, px, H - PAD + 4], fill="black")
        draw.text((px - 12, H - PAD + 8), f"{fx:.0f}", fill="black")
    draw.text((PAD, 12), title, fill="black")
    draw.text((W // 2 - 10, H - 20), "step", fill="black")
    draw.text((4, PAD - 20), ylabel, fill="black")
    for i, (label, s, colour) in enumerate(series):
        if len(s) > 1:
            draw.line([xy(p) for p in s], fill=colour, width=2)
        elif s:
            x, y = xy(s[0])
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.text((W - PAD - 150, PAD + 8 + 14 * i), label, fill=colour)
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--window", type=int, default=50, help="moving-average window (logs)")
    args = parser.parse_args()

    loss_series, iou_series = [], []
    for r, run in enumerate(args.runs):
        rows = read(run)
        train = [x for x in rows if x.get("event") == "train"]
        keys = sorted({k for x in train for k in x if k.endswith("loss")})
        for j, key in enumerate(keys):
            pts = [(x["step"], x[key]) for x in train if key in x]
            smooth = moving_average([p[1] for p in pts], args.window)
            colour = COLOURS[(r + j) % len(COLOURS)]
            light = tuple(int(c + (255 - c) * 0.7) for c in colour)
            loss_series.append((f"{run.name} {key} (raw)", pts, light))
            loss_series.append(
                (f"{run.name} {key}", list(zip([p[0] for p in pts], smooth, strict=True)), colour)
            )
        val = [x for x in rows if x.get("event") == "val"]
        for j, key in enumerate(("coarse_iou", "fine_iou")):
            pts = [(x["step"], x[key]) for x in val if key in x]
            if pts:
                iou_series.append((f"{run.name} {key}", pts, COLOURS[(r + 2 * j) % len(COLOURS)]))
    sheet = Image.new("RGB", (2 * W, H), "white")
    sheet.paste(panel("training loss", loss_series, "loss"), (0, 0))
    sheet.paste(panel("validation IoU (held-out points)", iou_series, "IoU"), (W, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
