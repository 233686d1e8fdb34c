"""Parameter counts per part, named as in the released checkpoint."""

from __future__ import annotations

from torch import nn

PARTS = {
    "coarse_filter (netG.image_filter)": "netG.image_filter",
    "coarse_mlp (netG.mlp)": "netG.mlp",
    "fine_filter (image_filter)": "image_filter",
    "fine_mlp (mlp)": "mlp",
    "front_normal (netG.netF)": "netG.netF",
    "back_normal (netG.netB)": "netG.netB",
}


def count_parameters(module: nn.Module | None) -> int:
    """Number of distinct parameters (shared tensors counted once)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """{part label: count} for each part of a PIFuHD model, plus "TOTAL"."""
    counts = {}
    for label, name in PARTS.items():
        try:
            part = model.get_submodule(name)
        except AttributeError:
            part = None
        counts[label] = count_parameters(part)
    counts["TOTAL"] = count_parameters(model)
    return counts
