"""Validation colour error of colour nets, per light, on a prepared training folder.

For each light render (``rgb`` random SH, ``rgb_wild``, ``rgb_intermediate``, ``rgb_clear``) and
each colour checkpoint: mean CIEDE2000, sRGB L1, mean chroma and lightness of the predictions
(and of the true albedo) at surface points of the validation subjects a run holds out
(``split_subjects``, the training's ``val_fraction`` and ``seed``). The encoder reads the
ground-truth normal maps as in training (``--normals predicted``: the normal nets', as at
inference); no augmentation. It is the validation of ``pifuhd train color`` split by light, to
choose fine-tuning settings without touching the held-out people:

    python3 benchmarks/color_val_lights.py --data train_data base runs/x/checkpoints/step_0000400

``base`` is the shipped colour net; ``pixel`` is no net: the photo's own colour at each
point's projection (the surface in front of a hidden point: the front copied onto the back).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.color import load_color
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.color_dataset import LIGHTS, ColorDataset, ColorSampling
from pifuhd.data.dataset import split_subjects
from pifuhd.eval.color_metrics import ciede2000, srgb_to_lab
from pifuhd.geometry.projection import default_calib, orthographic, sample_features
from pifuhd.models.color import to_srgb
from pifuhd.train.levels import encoder_normals
from pifuhd.train.validate import spread_indices
from pifuhd.weights import default_checkpoint


def scores(pred: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
    """(CIEDE2000, L1, chroma of pred, chroma of target, L* of pred, L* of target), means."""
    lp, lt = srgb_to_lab(pred), srgb_to_lab(target)
    return (
        float(ciede2000(lp, lt).mean()),
        float(np.abs(pred - target).mean()),
        float(np.hypot(lp[:, 1], lp[:, 2]).mean()),
        float(np.hypot(lt[:, 1], lt[:, 2]).mean()),
        float(lp[:, 0].mean()),
        float(lt[:, 0].mean()),
    )


def load_net(name: str) -> torch.nn.Module:
    """The colour net of a checkpoint folder, or the shipped one for ``base``."""
    return load_color(default_checkpoint() if name == "base" else name, "cpu")[0].eval()


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--items", type=int, default=24, help="views per light")
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--normals", choices=("gt", "predicted"), default="gt", help="normal maps the encoder reads"
    )
    parser.add_argument("checkpoints", nargs="+", help="colour checkpoints, or base")
    args = parser.parse_args()
    names = sorted(p.name for p in (args.data / "subjects").iterdir())
    _, val = split_subjects(names, args.val_fraction, args.seed)
    model, _ = load_checkpoint(default_checkpoint(), "cpu")
    model.eval()
    nets = {c: None if c == "pixel" else load_net(c) for c in args.checkpoints}
    calib = default_calib(1, "cpu")
    print(f"{len(val)} validation subjects, {args.items} views per light")
    print("| light | checkpoint | CIEDE2000 | L1 | chroma pred / true | L* pred / true |")
    print("|---|---|---|---|---|---|")
    for light in LIGHTS:
        dataset = ColorDataset(
            args.data,
            val,
            sampling=ColorSampling(count=args.points, offset_cm=0.0),
            lights=(light,),
            augment=AugmentConfig.none(),
            image_size=model.config.coarse.image_size,
            seed=args.seed,
            photo=True,  # for a net that corrects the sharp photo (``sharp_residual``)
        )
        rows: dict[str, list] = {c: [] for c in nets}
        for index in spread_indices(len(dataset), args.items):
            item = default_collate([dataset[index]])
            batch = {k: v for k, v in item.items() if torch.is_tensor(v)}
            normals = encoder_normals(model, batch, args.normals)
            net = model.netG
            geometry = net.image_filter(net.encoder_input(batch["image"], normals), last_only=True)
            target = batch["color_targets"][0].T.numpy()
            for name, color in nets.items():
                if color is None:
                    uv = orthographic(batch["color_points"], calib)[:, :2]
                    pixel = sample_features(batch["image"], uv)
                    rows[name].append(scores(to_srgb(pixel).float()[0].T.numpy(), target))
                    continue
                features = color.encode(batch["image"])
                harsh = batch.get("harshness")  # the preset's, for a net that takes it
                query = color.query(
                    features, geometry[-1], batch["color_points"], calib, None, harsh,
                    batch["photo"],
                )  # fmt: skip
                rows[name].append(scores(to_srgb(query).float()[0].T.numpy(), target))
        for name in nets:
            m = np.mean(rows[name], axis=0)
            print(
                f"| {light} | {name} | {m[0]:.2f} | {m[1]:.4f} | {m[2]:.1f} / {m[3]:.1f} "
                f"| {m[4]:.1f} / {m[5]:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
