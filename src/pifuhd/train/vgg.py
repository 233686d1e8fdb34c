"""VGG19 feature layers in plain torch and the perceptual loss of the normal nets.

The layers are numbered as torchvision's ``vgg19().features`` so that its ImageNet weights
(``features.N.weight`` / ``features.N.bias``, from a local .pth or .safetensors file) load by
name. Nothing is downloaded: without a weights file the normal nets train with L1 alone.

Perceptual loss (Johnson et al. 2016, multi-layer form of pix2pixHD): the weighted mean L1
distance between the VGG features of the prediction and of the target, after relu1_1,
relu2_1, relu3_1, relu4_1 and relu5_1 with weights 1/32, 1/16, 1/8, 1/4 and 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pifuhd.errors import CheckpointError

VGG19_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
"""Output channels of each 3x3 conv, "M" for a 2x2 max pool (configuration E)."""

TAPS: tuple[int, ...] = (1, 6, 11, 20, 29)
"""``features`` indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1."""
TAP_WEIGHTS: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layers(last: int = TAPS[-1]) -> nn.Sequential:
    """torchvision-numbered VGG19 ``features`` up to and including index ``last``."""
    layers: list[nn.Module] = []
    cin = 3
    for spec in VGG19_LAYOUT:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(spec), kernel_size=3, padding=1), nn.ReLU()]
            cin = int(spec)
    return nn.Sequential(*layers[: last + 1])


def read_vgg19_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a torchvision-style VGG19 state dict (.pth read with weights_only=True,
    or .safetensors); keys ``features.N.*``, ``module.features.N.*`` or bare ``N.*``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"--vgg-weights {path}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: cannot read VGG19 weights ({type(exc).__name__}); pass a torchvision "
            "vgg19 state dict (.pth) or .safetensors"
        ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict of VGG19 tensors")
    tensors = {
        k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)
    }
    if not any(k.startswith("features.") for k in tensors):  # saved from vgg.features
        tensors = {f"features.{k}": v for k, v in tensors.items()}
    return tensors


class VGG19Features(nn.Module):
    """Frozen VGG19 feature extractor returning the activations at ``TAPS``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg19_layers()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def load_torchvision(self, state: dict[str, torch.Tensor], source: str = "weights") -> None:
        """Load ``features.N.weight/bias`` for every conv up to relu5_1; checks every shape."""
        own = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        missing = sorted(k for k in own if k not in state)
        if missing:
            raise CheckpointError(
                f"{source}: not VGG19 weights ({len(missing)} of {len(own)} tensors missing, "
                f"e.g. {missing[0]}); pass torchvision's vgg19 ImageNet state dict"
            )
        for key, tensor in own.items():
            if state[key].shape != tensor.shape:
                raise CheckpointError(
                    f"{source}: {key} has shape {tuple(state[key].shape)}, VGG19 needs "
                    f"{tuple(tensor.shape)}"
                )
        self.features.load_state_dict(
            {k.removeprefix("features."): state[k].float() for k in own}, strict=True
        )

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image: (B, 3, H, W) in [-1, 1] -> activations at ``TAPS`` (ImageNet-normalised
        input), from (B, 64, H, W) to (B, 512, H/16, W/16)."""
        x = ((image + 1.0) * 0.5 - self.mean) / self.std
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                out.append(x)
        return out


class PerceptualLoss(nn.Module):
    """sum_k w_k mean|VGG_k(pred) - VGG_k(target)| over the ``TAPS`` (no gradient to target)."""

    def __init__(self, features: VGG19Features) -> None:
        super().__init__()
        self.vgg = features

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """predicted, target: (B, 3, H, W) in [-1, 1], H and W at least 16. Returns a scalar."""
        ours = self.vgg(predicted)
        with torch.no_grad():
            theirs = self.vgg(target)
        terms = [
            w * F.l1_loss(a.float(), b.float())
            for w, a, b in zip(TAP_WEIGHTS, ours, theirs, strict=True)
        ]
        return torch.stack(terms).sum()


def load_perceptual_loss(path: str | os.PathLike) -> PerceptualLoss:
    """A ``PerceptualLoss`` with the VGG19 weights of a local file (see ``read_vgg19_weights``)."""
    features = VGG19Features()
    features.load_torchvision(read_vgg19_weights(path), source=str(path))
    return PerceptualLoss(features)
