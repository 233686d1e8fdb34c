"""Make the golden files of tests/assets from the ORIGINAL PIFuHD release.

Not part of the package and not run by the tests. It imports the original inference code (PyPI
``pifu-hd``, module ``PIFuHD``, CC BY-NC 4.0), which must be installed in a scratch environment
and is never copied into this repository:

    python3 -m venv --system-site-packages /tmp/scratch_pifuhd/venv
    /tmp/scratch_pifuhd/venv/bin/pip install --no-deps pifu-hd opencv-python-headless
    # PIFuHD.data imports torchvision.transforms (Compose/ToTensor/Normalize) only; the model
    # classes used here do not need it. A minimal stand-in package on PYTHONPATH is enough.
    PYTHONPATH=/tmp/scratch_pifuhd/stub /tmp/scratch_pifuhd/venv/bin/python \\
        tools/make_official_goldens.py --checkpoint /tmp/scratch_pifuhd/tiny_pifuhd.pt

What it does: builds the original coarse model (HGPIFuNetwNML, normals enabled) and fine model
(HGPIFuMRNet) from ``tests/official_fixture.tiny_namespaces()``, replaces the coarse model's
normal nets by small ones made with the original generator factory, loads
``seeded_state_dict(...)`` strictly, runs the original test-time path (filter_global on the coarse
image, filter_local on the fine image with a view dimension, query with points and calib) and
writes ``official_golden.safetensors`` and ``official_golden.json``.

``--calibrate`` prints values for FINE_LAST_K / FINE_LAST_BIAS of the fixture instead.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import official_fixture as fx  # noqa: E402

try:
    import PIFuHD
    from PIFuHD.model import HGPIFuMRNet, HGPIFuNetwNML
    from PIFuHD.networks import define_G
except ImportError as exc:  # pragma: no cover - environment problem
    raise SystemExit(f"the original PIFuHD (pip package pifu-hd) is needed: {exc}") from exc

TARGET_FRACTION_INSIDE = 0.30  # of all golden points, for --calibrate
TARGET_LOGIT_STD = 2.5  # std of the fine pre-sigmoid values over points inside the xy mask

GOLDEN_OUTPUTS = (
    "nml_front",
    "nml_back",
    "coarse_feat",
    "coarse_pred",
    "coarse_phi",
    "fine_feat",
    "fine_pred",
)


def build_original() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The original tiny model with seeded weights, in eval mode, and the state dict loaded."""
    opt_fine, opt_coarse = fx.tiny_namespaces()
    torch.manual_seed(0)  # irrelevant for the outputs (all weights are replaced), but tidy
    net_g = HGPIFuNetwNML(opt_coarse, "orthogonal")
    # The constructor swallows any error while making the normal nets: make sure they exist.
    if net_g.netF is None or net_g.netB is None:
        raise RuntimeError("the original coarse model was built without normal nets")
    s = fx.SMALL_NORMAL_NET
    for name in ("netF", "netB"):
        small = define_G(
            s["input_nc"],
            s["output_nc"],
            s["ngf"],
            "global",
            s["n_downsample_global"],
            s["n_blocks_global"],
            1,
            3,
            s["norm"],
        )
        setattr(net_g, name, small)
    net = HGPIFuMRNet(opt_fine, net_g, "orthogonal")

    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    state_dict = fx.seeded_state_dict(shapes)
    net.load_state_dict(state_dict, strict=True)
    net.eval()
    loaded = net.state_dict()
    for key, value in state_dict.items():
        if not torch.equal(loaded[key], value):
            raise RuntimeError(f"{key} did not load as given")
    return net, state_dict


def run_original(net: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original test-time path (as in its Reconstructor and mesh_util.reconstruction)."""
    captured: dict[str, torch.Tensor] = {}
    last = net.mlp.filters[-1]
    hook = last.register_forward_hook(lambda m, i, o: captured.__setitem__("fine_last_in", i[0]))
    try:
        with torch.no_grad():
            net.filter_global(inputs["image_coarse"])
            net.filter_local(inputs["image_fine"][:, None])  # (B, views=1, C, H, W)
            net.query(inputs["points"], inputs["calib"])
    finally:
        hook.remove()
    g = net.netG
    out = {
        "nml_front": g.nmlF,
        "nml_back": g.nmlB,
        "coarse_feat": g.im_feat_list[-1],
        "coarse_pred": g.preds,
        "coarse_phi": g.phi,
        "fine_feat": net.im_feat_list[-1],
        "fine_pred": net.get_preds(),
    }
    out = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in out.items()}
    out["_fine_last_in"] = captured["fine_last_in"].detach().clone()
    return out


def xy_mask(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    p = inputs["points"]
    y = -p[:, 1]  # calib negates y; x and y masks are symmetric anyway
    return ((p[:, 0].abs() <= 1) & (y.abs() <= 1))[0]


def calibrate(net: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> None:
    out = run_original(net, inputs)
    w = net.mlp.filters[-1].weight.detach()
    raw = (F.conv1d(out["_fine_last_in"], w) / fx.FINE_LAST_K)[0, 0].double().numpy()
    mask = xy_mask(inputs).numpy()
    vals = np.sort(raw[mask])
    n_total = raw.size
    n_in = round(TARGET_FRACTION_INSIDE * n_total)
    # threshold halfway between the n_in-th largest and the next one
    t = 0.5 * (vals[-n_in] + vals[-n_in - 1])
    k = float(f"{TARGET_LOGIT_STD / vals.std():.2g}")
    b = round(float(-k * t), 3)
    logits = k * raw[mask] + b
    print(f"raw pre-sigmoid (K=1, bias=0), xy mask: mean {vals.mean():.6g} std {vals.std():.6g}")
    print(f"points in xy mask: {mask.sum()} of {n_total}")
    print(f"FINE_LAST_K = {k!r}")
    print(f"FINE_LAST_BIAS = {b!r}")
    frac = (logits > 0).sum() / n_total
    print(f"-> fraction inside {frac:.4f}, min |logit| {np.abs(logits).min():.4g}")


def describe_namespace(ns: argparse.Namespace) -> dict:
    return dict(vars(ns))


def stats(t: torch.Tensor) -> dict:
    return {
        "shape": list(t.shape),
        "min": float(t.min()),
        "max": float(t.max()),
        "mean": float(t.double().mean()),
    }


def write_checkpoint(path: Path, net: torch.nn.Module, golden: dict[str, torch.Tensor]) -> dict:
    """Write a tiny official-format checkpoint and check it loads with weights_only=True."""
    opt_fine, opt_coarse = fx.tiny_namespaces()
    state_dict = net.state_dict()  # an OrderedDict in the model's order, like the release
    torch.save({"opt": opt_fine, "opt_netG": opt_coarse, "model_state_dict": state_dict}, path)
    report: dict = {"file": "side file, not in the repository"}
    try:
        torch.load(path, weights_only=True)
        report["weights_only_without_allowlist"] = "loaded"
    except Exception as exc:  # expected on torch >= 2.6
        report["weights_only_without_allowlist"] = f"refused: {type(exc).__name__}"
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(path, weights_only=True)
    report["weights_only_with_namespace_allowlisted"] = "loaded"
    report["top_level"] = {
        k: type(v).__module__ + "." + type(v).__qualname__ for k, v in ckpt.items()
    }
    assert vars(ckpt["opt"]) == vars(opt_fine) and vars(ckpt["opt_netG"]) == vars(opt_coarse)
    assert list(ckpt["model_state_dict"]) == list(state_dict)
    # Rebuild the original from the loaded file (normal nets swapped as above) and re-run.
    net2, _ = build_original()
    net2.load_state_dict(ckpt["model_state_dict"], strict=True)
    net2.eval()
    again = run_original(net2, fx.golden_inputs())
    for k in GOLDEN_OUTPUTS:
        if not torch.equal(again[k], golden[k]):
            raise RuntimeError(f"checkpoint round trip changed {k}")
    report["round_trip_outputs_identical"] = True
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "tests" / "assets")
    parser.add_argument("--checkpoint", type=Path, help="also write a tiny official-format file")
    parser.add_argument("--calibrate", action="store_true", help="print FINE_LAST_K/BIAS values")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    net, state_dict = build_original()
    inputs = fx.golden_inputs()
    if args.calibrate:
        calibrate(net, inputs)
        return

    out = run_original(net, inputs)
    fine_last_in = out.pop("_fine_last_in")
    mask = xy_mask(inputs)
    fine = out["fine_pred"][0, 0]
    coarse = out["coarse_pred"][0, 0]
    with torch.no_grad():
        last_layer = net.mlp.filters[-1]
        logits = F.conv1d(fine_last_in, last_layer.weight, last_layer.bias)[0, 0]

    tensors = {k: v.contiguous() for k, v in inputs.items()}
    tensors.update(out)
    from safetensors.torch import save_file

    args.out_dir.mkdir(parents=True, exist_ok=True)
    st_path = args.out_dir / "official_golden.safetensors"
    save_file(
        tensors,
        str(st_path),
        metadata={"source": f"pifu-hd {importlib.metadata.version('pifu-hd')} (module PIFuHD)"},
    )

    opt_fine, opt_coarse = fx.tiny_namespaces()
    last = len(net.mlp.filters) - 1
    info = {
        "original": {
            "pypi_package": "pifu-hd",
            "version": importlib.metadata.version("pifu-hd"),
            "module": "PIFuHD",
            "module_version": getattr(PIFuHD, "__version__", None),
            "license": "CC BY-NC 4.0 (not copied here; only its outputs on our own weights)",
        },
        "environment": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "torch_threads": args.threads,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "generated_by": "tools/make_official_goldens.py",
        "fixture": "tests/official_fixture.py",
        "namespaces": {
            "opt (fine)": describe_namespace(opt_fine),
            "opt_netG (coarse)": describe_namespace(opt_coarse),
        },
        "small_normal_nets": dict(
            fx.SMALL_NORMAL_NET, factory="PIFuHD.networks.define_G", netG="global"
        ),
        "seeds": {"seeded_state_dict": 0, "golden_inputs": 1},
        "fine_last_layer_rule": {
            "keys": [f"mlp.filters.{last}.weight", f"mlp.filters.{last}.bias"],
            "rule": "weight = FINE_LAST_K * seeded weight; bias = FINE_LAST_BIAS (all entries)",
            "FINE_LAST_K": fx.FINE_LAST_K,
            "FINE_LAST_BIAS": fx.FINE_LAST_BIAS,
            "target": f"about {TARGET_FRACTION_INSIDE:.0%} of golden points with fine_pred > 0.5",
            "min_abs_fine_logit_in_xy_mask": float(logits[mask].abs().min()),
        },
        "fraction_inside": {
            "fine_pred_gt_0.5_all_points": float((fine > 0.5).double().mean()),
            "fine_pred_gt_0.5_in_xy_mask": float((fine[mask] > 0.5).double().mean()),
            "coarse_pred_gt_0.5_all_points": float((coarse > 0.5).double().mean()),
            "points_in_xy_mask": int(mask.sum()),
            "points_in_cube": int((inputs["points"][0].abs() <= 1).all(0).sum()),
            "num_points": int(fine.numel()),
        },
        "golden_tensors": {k: stats(v) for k, v in tensors.items()},
        "shared_norm_keys": {
            "bn4_and_downsample.0_both_present": any(".bn4." in k for k in state_dict)
            and any(".downsample.0." in k for k in state_dict),
            "downsample.0_keys": sum(".downsample.0." in k for k in state_dict),
        },
        "state_dict": {
            "num_tensors": len(state_dict),
            "num_values": int(sum(v.numel() for v in state_dict.values())),
            "keys_in_model_order": [[k, list(v.shape)] for k, v in net.state_dict().items()],
        },
        "checkpoint_format": {
            "container": "torch.save of a dict",
            "keys_read_by_original": {
                "opt": "argparse.Namespace: fine-level options (HGPIFuMRNet)",
                "opt_netG": "argparse.Namespace: coarse-level options (HGPIFuNetwNML)",
                "model_state_dict": "collections.OrderedDict[str, torch.Tensor] of HGPIFuMRNet "
                "(coarse model under 'netG.')",
            },
            "original_loading": "Reconstructor: torch.load(path, map_location=device) (no "
            "weights_only), opt = ckpt['opt'] with dataroot/resolution/results_path/loadSize "
            "replaced by the command line's, HGPIFuNetwNML(ckpt['opt_netG']), "
            "HGPIFuMRNet(opt, netG), load_state_dict(ckpt['model_state_dict']) (strict)",
            "reconstructor_also_reads_from_opt": [
                "checkpoints_path",
                "results_path",
                "name",
                "resolution",
                "use_compose",
            ],
        },
        "inference_path": [
            "net.eval()  # HGPIFuMRNet.train(False) also puts netG in eval (train_full_pifu False)",
            "with torch.no_grad():",
            "net.filter_global(image_coarse)  # (B,3,H,W): normals, coarse encoder",
            "net.filter_local(image_fine[:, None])  # (B,1,3,H,W): view dimension",
            "net.query(points, calib)  # points (B,3,N), calib (B,4,4)",
            "fine_pred = net.get_preds(); coarse_pred = net.netG.preds; coarse_phi = net.netG.phi",
        ],
    }
    if args.checkpoint is not None:
        info["tiny_checkpoint_check"] = write_checkpoint(args.checkpoint, net, out)
    json_path = args.out_dir / "official_golden.json"
    json_path.write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {st_path} ({st_path.stat().st_size} bytes) and {json_path}")
    for k, v in tensors.items():
        print(
            f"  {k:14s} {list(v.shape)!s:20s} min {float(v.min()):+.6f} max {float(v.max()):+.6f}"
        )
    print(json.dumps(info["fraction_inside"], indent=1))


if __name__ == "__main__":
    main()
