"""Load the authors' released ``pifuhd.pt`` safely and convert it to the native format.

The file is a pickle holding ``opt`` (fine level) and ``opt_netG`` (coarse level) as
``argparse.Namespace`` plus ``model_state_dict``. It is read with ``weights_only=True``
allowing ``argparse.Namespace`` and nothing else; there is no unsafe fallback. The model is
built from the option values stored in the file (unsupported values are an error), the keys
are checked against ours one by one with their shapes, and the weights load strictly.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pifuhd.config import (
    CoarseConfig,
    FineConfig,
    HourglassConfig,
    MlpConfig,
    NormalNetConfig,
    PIFuHDConfig,
)
from pifuhd.errors import CheckpointError
from pifuhd.io.atomic import atomic_write
from pifuhd.models.pifuhd import PIFuHD, empty_model

REQUIRED_KEYS = ("opt", "opt_netG", "model_state_dict")
HOURGLASS_WIDTH = 256  # the released encoder's hourglass width is fixed in the original code
_POOLING = {"ave_pool": True, "no_down": False}


def read_official(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dict, unpickled with only tensors and argparse.Namespace allowed."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file; pass the path to pifuhd.pt")
    if path.is_dir():
        steps = sorted(p for p in (path / "checkpoints").glob("step_*") if p.is_dir())
        if steps:
            raise CheckpointError(
                f"{path}: is a training run, not a checkpoint; pass one of its checkpoints, "
                f"e.g. {steps[-1]}"
            )
        raise CheckpointError(
            f"{path}: is a folder without config.json; pass pifuhd.pt or a native checkpoint folder"
        )
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            # mmap: tensors stay in the file's pages until used (no 1.5 GB copy up front);
            # only the zip layout of torch.save supports it
            data = torch.load(
                path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
            )
    except pickle.UnpicklingError as exc:
        reason = _unpickling_reason(str(exc))
        if "GLOBAL" in reason:
            raise CheckpointError(
                f"{path}: refused to load: it holds objects other than tensors and option "
                f"Namespaces ({reason[:160]}); only the official pifuhd.pt format is accepted"
            ) from None
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({reason[:160]}); the file is corrupt "
            "or truncated: download it again"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        # torch's weights-only unpickler meets malformed opcode streams with these
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({first[:160]}); the file is corrupt "
            "or truncated: download it again"
        ) from None
    if not isinstance(data, Mapping) or not all(k in data for k in REQUIRED_KEYS):
        found = sorted(data)[:6] if isinstance(data, Mapping) else type(data).__name__
        raise CheckpointError(
            f"{path}: not an official PIFuHD checkpoint (expected keys {list(REQUIRED_KEYS)}, "
            f"found {found})"
        )
    for key in ("opt", "opt_netG"):
        if not isinstance(data[key], argparse.Namespace):
            raise CheckpointError(
                f"{path}: '{key}' is {type(data[key]).__name__}, expected the options Namespace"
            )
    return dict(data)


def _unpickling_reason(message: str) -> str:
    """The informative line of torch's weights-only refusal message."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or line.startswith("Unsupported") or "invalid load key" in line:
            return line
    return lines[0] if lines else "unpickling failed"


def config_from_official(
    opt: argparse.Namespace, opt_coarse: argparse.Namespace, state_dict: Mapping[str, torch.Tensor]
) -> PIFuHDConfig:
    """Build our configuration from the stored option Namespaces (and normal-net shapes)."""
    front = (
        _normal_config(state_dict, "netG.netF.model.")
        if _flag(opt_coarse, "use_front_normal")
        else None
    )
    back = (
        _normal_config(state_dict, "netG.netB.model.")
        if _flag(opt_coarse, "use_back_normal")
        else None
    )
    in_channels = 3 + 3 * (front is not None) + 3 * (back is not None)
    coarse_pool = _POOLING.get(_get(opt_coarse, "hg_down", "opt_netG"))
    if coarse_pool is None:
        _unsupported("opt_netG.hg_down", opt_coarse.hg_down, sorted(_POOLING))
    coarse = CoarseConfig(
        encoder=_encoder(opt_coarse, "opt_netG", in_channels, coarse_pool),
        mlp=_mlp(opt_coarse, "opt_netG"),
        front_normal=front,
        back_normal=back,
        image_size=int(_get(opt_coarse, "loadSize", "opt_netG")),
        z_size=float(_get(opt_coarse, "z_size", "opt_netG")),
    )
    fine_size = getattr(opt, "loadSizeBig", None) or _get(opt, "loadSize", "opt")
    fine = FineConfig(
        encoder=_encoder(opt, "opt", in_channels, pool=False),
        mlp=_mlp(opt, "opt"),
        image_size=int(fine_size),
    )
    try:
        return PIFuHDConfig(coarse=coarse, fine=fine)
    except ValueError as exc:
        raise CheckpointError(f"inconsistent options in the checkpoint: {exc}") from None


def load_official(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[PIFuHD, dict[str, Any]]:
    """Model (eval mode) and metadata from an official-format ``pifuhd.pt``."""
    data = read_official(path)
    state = data["model_state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(f"{path}: model_state_dict is not a mapping of tensors")
    try:
        config = config_from_official(data["opt"], data["opt_netG"], state)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    model = empty_model(config)
    _check_keys(path, model.state_dict(), state)
    model.load_state_dict(dict(state), strict=True, assign=True)
    meta = {"source": "official", "path": str(path), "options": _options_summary(data)}
    return model.to(device).eval(), meta


def _check_keys(
    path: Any, ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]
) -> None:
    missing = [k for k in ours if k not in theirs]
    unexpected = [k for k in theirs if k not in ours]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensor names differ from the model its options describe "
            f"({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, "
            f"e.g. {unexpected[:2]}); is it a PIFuHD (not PIFu) checkpoint?"
        )
    for key, tensor in ours.items():
        if tuple(theirs[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: tensor {key} has shape {tuple(theirs[key].shape)}, the options "
                f"imply {tuple(tensor.shape)}"
            )


def _get(ns: argparse.Namespace, name: str, label: str) -> Any:
    if not hasattr(ns, name):
        raise CheckpointError(f"option {label}.{name} is missing from the checkpoint")
    return getattr(ns, name)


def _flag(ns: argparse.Namespace, name: str) -> bool:
    return bool(getattr(ns, name, False))


def _unsupported(name: str, value: Any, allowed: Any) -> None:
    raise CheckpointError(f"unsupported option {name}={value!r} (supported: {allowed})")


def _encoder(ns: argparse.Namespace, label: str, in_channels: int, pool: bool) -> HourglassConfig:
    norm = _get(ns, "norm", label)
    if norm not in ("group", "batch"):
        _unsupported(f"{label}.norm", norm, ["group", "batch"])
    return HourglassConfig(
        in_channels=in_channels,
        num_stacks=int(_get(ns, "num_stack", label)),
        depth=int(_get(ns, "hg_depth", label)),
        channels=HOURGLASS_WIDTH,
        out_channels=int(_get(ns, "hg_dim", label)),
        norm=norm,
        pool=pool,
    )


def _mlp(ns: argparse.Namespace, label: str) -> MlpConfig:
    dims = [int(d) for d in _get(ns, "mlp_dim", label)]
    res = [int(r) for r in _get(ns, "mlp_res_layers", label)]
    if len(res) == 1 and res[0] < 1:  # the original's way of saying "no skips"
        res = []
    merge = int(getattr(ns, "merge_layer", -1))
    if merge <= 0:  # the original falls back to the middle layer
        merge = len(dims) // 2
    norm = getattr(ns, "mlp_norm", "none")
    if norm not in ("none", "group", "batch"):
        _unsupported(f"{label}.mlp_norm", norm, ["none", "group", "batch"])
    try:
        return MlpConfig(dims=tuple(dims), skip_layers=tuple(res), merge_layer=merge, norm=norm)
    except ValueError as exc:
        raise CheckpointError(f"option {label}.mlp_*: {exc}") from None


def _normal_config(state: Mapping[str, torch.Tensor], prefix: str) -> NormalNetConfig:
    """pix2pixHD generator sizes read off the tensor shapes under ``prefix``."""
    convs: dict[int, torch.Size] = {}
    blocks: set[int] = set()
    for key, tensor in state.items():
        m = re.match(re.escape(prefix) + r"(\d+)\.(conv_block\.)?", key)
        if m is None:
            continue
        if m.group(2):
            blocks.add(int(m.group(1)))
        elif key.endswith(".weight"):
            convs[int(m.group(1))] = tensor.shape
    if 1 not in convs:
        raise CheckpointError(f"normal network tensors {prefix}1.weight not found")
    first, last = convs[1], convs[max(convs)]
    num_down = sum(1 for i in convs if 1 < i < min(blocks | {10**9}))
    return NormalNetConfig(
        in_channels=int(first[1]),
        out_channels=int(last[0]),
        base_channels=int(first[0]),
        num_downsample=num_down,
        num_blocks=len(blocks),
    )


def _options_summary(data: Mapping[str, Any]) -> dict[str, Any]:
    keep = (
        "num_stack",
        "hg_depth",
        "hg_dim",
        "hg_down",
        "norm",
        "mlp_dim",
        "mlp_res_layers",
        "merge_layer",
        "mlp_norm",
        "loadSize",
        "loadSizeBig",
        "z_size",
        "use_front_normal",
        "use_back_normal",
    )
    out: dict[str, Any] = {}
    for key in ("opt", "opt_netG"):
        ns = vars(data[key])
        out[key] = {k: ns[k] for k in keep if k in ns}
    return out


def namespaces_from_config(config: PIFuHDConfig) -> tuple[argparse.Namespace, argparse.Namespace]:
    """(opt, opt_coarse) option Namespaces describing ``config`` in the original's terms.

    Only configurations the original code can express are accepted: hourglass width 256,
    group or batch norm, coarse level pooled and fine level not.
    """
    c, f = config.coarse, config.fine
    for label, enc in (("coarse", c.encoder), ("fine", f.encoder)):
        if enc.channels != HOURGLASS_WIDTH or enc.norm not in ("group", "batch"):
            raise ValueError(f"the {label} encoder has no official-format equivalent")
    if not c.encoder.pool or f.encoder.pool:
        raise ValueError("the official format pools the coarse level only")

    def level(enc: HourglassConfig, mlp: MlpConfig, size: int) -> dict[str, Any]:
        return {
            "num_stack": enc.num_stacks,
            "hg_depth": enc.depth,
            "hg_dim": enc.out_channels,
            "norm": enc.norm,
            "mlp_dim": list(mlp.dims),
            "mlp_res_layers": list(mlp.skip_layers),
            "merge_layer": mlp.merge_layer,
            "mlp_norm": mlp.norm,
            "loadSize": size,
        }

    opt_coarse = argparse.Namespace(
        **level(c.encoder, c.mlp, c.image_size),
        hg_down="ave_pool",
        z_size=c.z_size,
        use_front_normal=c.front_normal is not None,
        use_back_normal=c.back_normal is not None,
    )
    opt = argparse.Namespace(
        **level(f.encoder, f.mlp, f.image_size),
        hg_down="no_down",
        loadSizeBig=f.image_size,
        z_size=c.z_size,
    )
    return opt, opt_coarse


def save_official(model: PIFuHD, path: str | os.PathLike) -> Path:
    """Write ``model`` in the released file layout (pickled Namespaces + state dict)."""
    opt, opt_coarse = namespaces_from_config(model.config)
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_write(path) as tmp:
        torch.save({"opt": opt, "opt_netG": opt_coarse, "model_state_dict": state}, tmp)
    return path
