"""Train the landmark depth net (``pifuhd.body.lift``) on ``tools/lift_data.py`` output.

People with seeds from ``--val-from`` on are held out: the script reports the forearm order
(wrist in front of or behind the elbow, where the two differ by more than 5 cm) of MediaPipe's
own depths and of the net's on them, then writes the weights (trained on the rest, with every
view also mirrored left to right) to ``src/pifuhd/body/weights/lift.safetensors``.

    python3 tools/train_lift.py /work/scratch/lift --val-from 560
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from pifuhd.body.lift import MAPPED, WEIGHTS, features, make_net, torso_scale

MIRROR = list(range(33))
for a, b in ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18)):
    MIRROR[a], MIRROR[b] = b, a
for a, b in ((19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)):
    MIRROR[a], MIRROR[b] = b, a


def load(folder: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    parts: dict[str, list] = {"kp": [], "vis": [], "world": [], "true": [], "yaw": []}
    seeds = []
    for path in sorted(folder.glob("seed_*.npz")):
        with np.load(path) as data:
            if len(data["yaw"]) == 0:
                continue
            for key in parts:
                parts[key].append(data[key])
            seeds += [int(path.stem.split("_")[1])] * len(data["yaw"])
    return {k: np.concatenate(v) for k, v in parts.items()}, np.array(seeds)


def mirrored(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every view mirrored left to right (landmarks swapped, x negated; yaw -> 360 - yaw)."""
    out = {k: (v[:, MIRROR] if v.ndim > 1 else v).copy() for k, v in d.items()}
    for key in ("kp", "world", "true"):
        out[key][..., 0] *= -1.0
    out["yaw"] = (360.0 - out["yaw"]) % 360.0
    return out


def side_views(yaw: np.ndarray, within: float = 30.0) -> np.ndarray:
    """(N,) bool: views within ``within`` degrees of a side view (yaw 90 or 270)."""
    return np.abs((yaw % 180.0) - 90.0) <= within


def targets(d: dict[str, np.ndarray]) -> np.ndarray:
    """(N, len(MAPPED)) true depth relative to the hip midpoint, in 2D torso lengths."""
    hips = (d["true"][:, 23, 2] + d["true"][:, 24, 2]) / 2.0
    depth = d["true"][:, list(MAPPED), 2] - hips[:, None]
    return (depth / torso_scale(d["kp"])[:, None]).astype(np.float32)


def forearm_order(depth: np.ndarray, truth: np.ndarray) -> tuple[float, int]:
    """Share of forearms whose wrist-elbow depth sign matches the truth's (clear ones only)."""
    right = []
    for elbow, wrist in ((13, 15), (14, 16)):
        dt = truth[:, wrist, 2] - truth[:, elbow, 2]
        clear = np.abs(dt) * 100.0 > 5.0
        right += list((np.sign(depth[:, wrist] - depth[:, elbow]) == np.sign(dt))[clear])
    return float(np.mean(right)), len(right)


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = make_net()
    optimiser = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 128):
            batch = order[i : i + 128]
            loss = torch.nn.functional.smooth_l1_loss(net(xt[batch]), yt[batch], beta=0.1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--val-from", type=int, default=560)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, seeds = load(args.data)
    val = seeds >= args.val_from
    train_part = {k: v[~val] for k, v in data.items()}
    both = {k: np.concatenate([v, mirrored(train_part)[k]]) for k, v in train_part.items()}
    x = features(both["kp"], both["world"], both["vis"])
    mean, scale = x.mean(0), x.std(0) + 1e-6
    net = train((x - mean) / scale, targets(both), args.epochs)
    held = {k: v[val] for k, v in data.items()}
    xv = (features(held["kp"], held["world"], held["vis"]) - mean) / scale
    with torch.no_grad():
        pred = net(torch.from_numpy(xv.astype(np.float32))).numpy()
    depth = np.zeros((len(pred), 33))
    depth[:, list(MAPPED)] = pred
    side = side_views(held["yaw"])
    report = {
        "train_views": int((~val).sum()),
        "held_out_views": int(val.sum()),
        "forearm_order_mediapipe": forearm_order(held["world"][..., 2], held["true"]),
        "forearm_order_net": forearm_order(depth, held["true"]),
        "forearm_order_net_side_views": forearm_order(depth[side], held["true"][side]),
        "forearm_order_net_other_views": forearm_order(depth[~side], held["true"][~side]),
    }
    print(json.dumps(report))
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    state["input_mean"] = torch.from_numpy(mean.astype(np.float32))
    state["input_scale"] = torch.from_numpy(scale.astype(np.float32))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata={"report": json.dumps(report)})


if __name__ == "__main__":
    main()
