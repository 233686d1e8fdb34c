"""How far a checkpoint's predicted normal maps are from the true ones, on prepared views.

The mean angle (degrees) between the predicted and the rendered true normal over the person's
pixels, front and back maps, at the coarse size (512), grey background, no augmentation. For
normal nets that read the fitted body (``pifuhd.geometry.body_normals``) the views need body
files (``pifuhd prepare --bodies fit``); the body's own normals are scored beside them, over the
pixels both cover.

    python3 benchmarks/normal_maps.py -c runs/bn-normals/checkpoints/step_0000300 --data held_data
    python3 benchmarks/normal_maps.py --data held_data            # the bundled model
    python3 benchmarks/normal_maps.py -c CKPT --data held_data --no-body   # give it zeros
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from pifuhd.checkpoint import load_checkpoint
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.dataset import OccupancyDataset, list_subjects
from pifuhd.weights import default_checkpoint


def angle_deg(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean angle between (3, H, W) maps over the pixels the true map covers (non-zero)."""
    on = np.abs(true).sum(0) > 0
    unit = pred / np.maximum(np.linalg.norm(pred, axis=0, keepdims=True), 1e-6)
    cos = np.clip((unit * true).sum(0)[on], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean()) if cos.size else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--data", required=True, help="prepared data folder")
    parser.add_argument("--subjects", help="comma-separated (default: all)")
    parser.add_argument("--bodies", default="fit", choices=("fit", "true"))
    parser.add_argument("--no-body", action="store_true", help="feed zeros for the body maps")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_checkpoint(args.checkpoint or default_checkpoint())
    model.eval()
    root = Path(args.data)
    names = args.subjects.split(",") if args.subjects else list_subjects(root)
    reads = model.netG.body_normals
    items = OccupancyDataset(
        root,
        names,
        augment=AugmentConfig.none(),
        image_size=model.config.coarse.image_size,
        bodies=args.bodies if reads else "none",
        body_normals=reads,
    )
    errors: dict[str, list[float]] = {"front": [], "back": [], "body_front": [], "body_back": []}
    start = time.perf_counter()
    for i in range(len(items)):
        item = items[i]
        batch = default_collate([item])
        body = None if args.no_body or not reads else batch["body_normals"]
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            predicted = model.netG.predict_normals(batch["image"], body)
        for side, name in enumerate(("front", "back")):
            true = item[f"normal_{name}"].numpy()
            errors[name].append(angle_deg(predicted[side][0].float().numpy(), true))
            if reads:
                own = item["body_normals"][3 * side : 3 * side + 3].numpy()
                overlap = true * (np.abs(own).sum(0) > 0)
                errors[f"body_{name}"].append(angle_deg(own, overlap))
    summary = {
        "checkpoint": str(args.checkpoint or "bundled"),
        "views": len(items),
        "body_given": reads and not args.no_body,
        **{f"{k}_deg": float(np.nanmean(v)) for k, v in errors.items() if v},
        "seconds": time.perf_counter() - start,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
