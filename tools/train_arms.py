"""Train the arm-depth net (``pifuhd.body.arms``) on ``tools/arm_data.py``'s views.

People whose seed ``--val-every`` divides are held out; the script prints, on them, the
forearm order (wrist in front of or behind the elbow, forearms whose true depth change exceeds
``--clear`` torso lengths) of the net, of the net gated by its hands-on-hips probability, and
of the landmark depth net (``pifuhd.body.lift``) it corrects in side views, overall and for
hands on the hips.

    python3 tools/train_arms.py /work/scratch/arms --val-every 8
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from pifuhd.body.arms import (
    AKIMBO_DEPTHS,
    HANDS_ON_HIPS_P,
    OUTPUTS,
    WEIGHTS,
    arm_outputs,
    hands_found,
    make_net,
    nearer_arm,
    targets,
    to_input,
)
from pifuhd.body.lift import features, lifted_depths, load_lift


def load_views(folder: Path) -> dict[str, np.ndarray]:
    """Every view of every ``seed_NNNN.npz``, stacked, with ``seed`` and per-arm ``families``
    ((N, 2): left, right)."""
    parts: dict[str, list] = {}
    for path in sorted(folder.glob("seed_*.npz")):
        d = np.load(path)
        n = len(d["yaw"])
        if n == 0:
            continue
        for key in ("crop", "torso", "kp", "vis", "world", "true", "yaw"):
            if key not in d.files:
                continue
            parts.setdefault(key, []).append(d[key])
        parts.setdefault("seed", []).append(np.full(n, int(path.stem.split("_")[1])))
        parts.setdefault("families", []).append(np.repeat(d["families"][None], n, 0))
    return {k: np.concatenate(v) for k, v in parts.items()}


def lifted_inputs(v: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per view: the normalised landmark features, the landmark net's (4,) ``OUTPUTS`` and the
    nearer arm by its depths."""
    _, mean, scale = load_lift()
    feats = (features(v["kp"], v["world"], v["vis"]) - mean) / scale
    base, near = [], []
    for k, w, vis in zip(v["kp"], v["world"], v["vis"], strict=True):
        z = lifted_depths(k, w, vis)
        near.append(nearer_arm(z))
        base.append(arm_outputs(z, k, near[-1]))
    return feats.astype(np.float32), np.array(base, np.float32), near


def augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random shifts of up to 8 px and per-channel gains of the RGB (no flips: the landmark
    features name left and right)."""
    n = len(x)
    dx, dy = (int(v) for v in rng.integers(-8, 9, 2))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    gain = torch.from_numpy(rng.uniform(0.75, 1.25, (n, 3, 1, 1)).astype(np.float32))
    x[:, :3] = (x[:, :3] * gain).clamp(0.0, 1.0)
    return x


def order_right(pred: np.ndarray, true: np.ndarray, clear: float) -> tuple[np.ndarray, np.ndarray]:
    """Per forearm (near, far) whether the wrist-minus-elbow depth has the true sign, and
    whether it is clear (over ``clear``); (N, 4) ``OUTPUTS`` arrays."""
    dp = pred[:, [1, 3]] - pred[:, [0, 2]]
    dt = true[:, [1, 3]] - true[:, [0, 2]]
    return np.sign(dp) == np.sign(dt), np.abs(dt) > clear


def report(name: str, pred: np.ndarray, true: np.ndarray, akimbo: np.ndarray, clear: float):
    right, ok = order_right(pred, true, clear)
    mae = np.abs(pred - true).mean(0)
    print(
        f"{name}: forearm order (clear) {right[ok].mean():.3f} of {ok.sum()}, "
        f"hands on hips {right[ok & akimbo].mean():.3f} of {(ok & akimbo).sum()}, "
        f"other {right[ok & ~akimbo].mean():.3f}; MAE "
        + " ".join(f"{o} {m:.3f}" for o, m in zip(OUTPUTS, mae, strict=True)),
        flush=True,
    )


def write_asset(
    path: Path,
    v: dict[str, np.ndarray],
    val: np.ndarray,
    akimbo: np.ndarray,
    count: int,
    crop: str = "torso",
) -> None:
    """``tests/assets/arms_heldout.npz``: ``count`` held-out views, those with a hand on the
    hips first (in seed order), with per-view (near, far) ``families``."""
    ids = np.nonzero(val)[0]
    ids = np.concatenate([ids[akimbo[ids].any(1)], ids[~akimbo[ids].any(1)]])[:count]
    np.savez_compressed(
        path,
        crop=v[crop][ids],
        kp=v["kp"][ids].astype(np.float32),
        world=v["world"][ids].astype(np.float32),
        vis=v["vis"][ids].astype(np.float32),
        true=v["true"][ids].astype(np.float32),
        families=v["near_far"][ids],
        seed=v["seed"][ids],
    )
    print(f"wrote {path}: {len(ids)} views, {akimbo[ids].any(1).sum()} with hands on the hips")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--val-every", type=int, default=8, help="hold out seeds divisible by N")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--class-weight", type=float, default=0.3)
    parser.add_argument("--crop", choices=("torso", "crop"), default="torso",
                        help="the net's input: the torso crop or the whole person")  # fmt: skip
    parser.add_argument("--clear", type=float, default=0.1, help="torso lengths (about 5 cm)")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--asset", type=Path, help="also write held-out views here (tests)")
    parser.add_argument("--asset-views", type=int, default=40)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    v = load_views(args.data)
    feats, base, near = lifted_inputs(v)
    y = targets(v["true"], v["kp"], near)
    left = np.array([n == "L" for n in near])
    fam = v["families"]
    v["near_far"] = np.stack(
        [np.where(left, fam[:, 0], fam[:, 1]), np.where(left, fam[:, 1], fam[:, 0])], 1
    )
    akimbo = v["near_far"] == "akimbo"
    val = v["seed"] % args.val_every == 0
    train = ~val
    print(f"{train.sum()} training views, {val.sum()} held out", flush=True)
    for k, arm in enumerate(("near", "far")):  # pifuhd.body.arms.AKIMBO_DEPTHS
        pick = akimbo[:, k] & train
        print(f"{arm} hands on the hips ({pick.sum()}): mean "
              f"{np.round(y[pick][:, 2 * k : 2 * k + 2].mean(0), 3)}", flush=True)  # fmt: skip
    if args.asset:
        write_asset(args.asset, v, val, akimbo, args.asset_views, args.crop)
    x_all = to_input(v[args.crop])
    f_all, b_all = torch.from_numpy(feats), torch.from_numpy(base)
    net = make_net()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    tr = torch.from_numpy(np.nonzero(train)[0])
    yt = torch.from_numpy(y)
    at = torch.from_numpy(akimbo.astype(np.float32))
    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        total = 0.0
        order = tr[torch.randperm(len(tr))]
        for b in range(0, len(tr), 64):
            idx = order[b : b + 64]
            pred, logit = net(augment(x_all[idx].clone(), rng), f_all[idx], b_all[idx])
            loss = torch.nn.functional.smooth_l1_loss(pred, yt[idx], beta=0.1)
            loss = loss + args.class_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                logit, at[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            net.eval()
            with torch.no_grad():
                pv, lv = net(x_all[val], f_all[val], b_all[val])
            pv, prob = pv.numpy(), torch.sigmoid(lv).numpy()
            report(f"epoch {epoch + 1} loss {total / len(tr):.4f}, net", pv, y[val], akimbo[val],
                   args.clear)  # fmt: skip
            gate = np.repeat(hands_found(prob), 2, axis=1)
            report(f"  gated at {HANDS_ON_HIPS_P}", np.where(gate, AKIMBO_DEPTHS, base[val]),
                   y[val], akimbo[val], args.clear)  # fmt: skip
            hit, ak = prob > 0.5, akimbo[val]
            print(f"  hands on hips found (near, far) {hit[:, 0][ak[:, 0]].mean():.3f}, "
                  f"{hit[:, 1][ak[:, 1]].mean():.3f}; false {hit[:, 0][~ak[:, 0]].mean():.3f}, "
                  f"{hit[:, 1][~ak[:, 1]].mean():.3f}", flush=True)  # fmt: skip
    print(f"{time.perf_counter() - start:.0f} s", flush=True)
    report("lift net", base[val], y[val], akimbo[val], args.clear)
    from safetensors.torch import save_file

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    save_file({k: t.contiguous() for k, t in net.state_dict().items()}, str(tmp))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
