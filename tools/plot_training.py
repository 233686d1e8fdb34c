"""Plot training curves from one or more runs' metrics.jsonl into a PNG (Pillow only).

    python3 tools/plot_training.py runs/coarse runs/fine -o docs/training_curves.png

Left panel: training loss (raw, light; moving average, dark) against the step, coloured by
stage. Right panel: validation IoU (coarse and fine) against the step. Runs are chained along
the step axis in the order given: a run started from another's weights (its steps counting
from 0) continues where the previous one ended; ``RUN:STEP`` drops records after STEP.
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
        if label:
            draw.text((W - PAD - 150, PAD + 8 + 14 * i), label, fill=colour)
    return img


def _with_footer(sheet: Image.Image, lines: list[str]) -> Image.Image:
    out = Image.new("RGB", (sheet.width, sheet.height + 14 * len(lines) + 6), "white")
    out.paste(sheet, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((8, sheet.height + 2 + 14 * i), line, fill="black")
    return out


def parse_run(spec: str) -> tuple[Path, int | None]:
    """``RUN`` or ``RUN:STEP`` (records after STEP left out: the checkpoint that was used)."""
    path, _, upto = spec.rpartition(":") if ":" in spec else (spec, "", "")
    return (Path(path), int(upto)) if upto.isdigit() else (Path(spec), None)


def stage_of(record: dict) -> str:
    return str(record.get("phase", "train"))


STAGE_COLOURS = {"coarse": COLOURS[0], "fine": COLOURS[1], "normals": COLOURS[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="run folders (or metrics.jsonl), RUN:STEP to cut")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--window", type=int, default=20, help="moving-average window (logs)")
    args = parser.parse_args()

    loss_series, iou_series, bounds = [], [], []
    offset = 0
    for spec in args.runs:
        run, upto = parse_run(spec)
        rows = [x for x in read(run) if upto is None or x.get("step", 0) <= upto]
        train = [x for x in rows if x.get("event") == "train"]
        if not train:
            continue
        # a run started from another's weights counts its steps from 0: chain it on
        shift = offset if train[0]["step"] <= offset or offset == 0 else 0
        pts = [(x["step"] + shift, x["loss"]) for x in train if "loss" in x]
        colour = STAGE_COLOURS.get(stage_of(train[0]), COLOURS[3])
        light = tuple(int(c + (255 - c) * 0.7) for c in colour)
        smooth = moving_average([p[1] for p in pts], args.window)
        loss_series.append(("", pts, light))
        loss_series.append(("", list(zip([p[0] for p in pts], smooth, strict=True)), colour))
        val = [x for x in rows if x.get("event") == "val"]
        for key, c in (("coarse_iou", COLOURS[0]), ("fine_iou", COLOURS[1])):
            vp = [(x["step"] + shift, x[key]) for x in val if key in x]
            if vp:
                iou_series.append(("", vp, c))
        offset = pts[-1][0]
        bounds.append((offset, run.name))
    legend = [
        (f"{k} loss" if k != "normals" else "normal nets L1", [], c)
        for k, c in STAGE_COLOURS.items()
    ]
    iou_legend = [("coarse IoU", [], COLOURS[0]), ("fine IoU", [], COLOURS[1])]
    sheet = Image.new("RGB", (2 * W, H), "white")
    sheet.paste(panel("training loss (runs chained)", legend + loss_series, "loss"), (0, 0))
    sheet.paste(panel("validation IoU (held-out points)", iou_legend + iou_series, "IoU"), (W, 0))
    text = "runs, each ending at step: " + ", ".join(f"{n} {b}" for b, n in bounds)
    sheet = _with_footer(sheet, [text[i : i + 200] for i in range(0, len(text), 200)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
