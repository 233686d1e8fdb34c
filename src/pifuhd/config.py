"""Frozen dataclass configurations for every network, with named presets.

Each configuration serialises to JSON (``to_dict`` / ``from_dict``) with a format version;
unknown keys are an error so a typo in a config file never passes silently.

Presets:

- ``official``: the released PIFuHD architecture (Saito et al., CVPR 2020), 384.6 M
  parameters, the same tensor names and shapes as the authors' ``pifuhd.pt``.
- ``small``: the same structure at a size that trains on a CPU (about 4.75 M parameters);
  see ``small_config`` for the reasoning behind each size.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

FORMAT_VERSION = 1

Norm = Literal["group", "batch", "instance"]
MlpNorm = Literal["none", "group", "batch"]


@dataclass(frozen=True)
class HourglassConfig:
    """Stacked-hourglass image encoder (Newell et al. 2016, as used by PIFu / PIFuHD)."""

    in_channels: int = 9
    """Input channels: 3 (RGB) plus 3 per predicted normal map."""
    num_stacks: int = 4
    """Number of stacked hourglasses; only the last stack's features are used at inference."""
    depth: int = 2
    """Recursion depth of each hourglass (number of 2x poolings inside it)."""
    channels: int = 256
    """Width of the hourglasses; the stem uses channels/4, channels/2, channels/2, channels."""
    out_channels: int = 256
    """Feature channels returned per stack (the original's ``hg_dim``)."""
    norm: Norm = "group"
    """Normalisation of the conv blocks: group (32 groups), batch, or instance."""
    norm_groups: int = 32
    """Groups of group norm; a layer with fewer channels uses one group per channel."""
    pool: bool = True
    """Average-pool by 2 after the stem's second block (coarse level) or not (fine level)."""

    def __post_init__(self) -> None:
        _check(self.channels % 4 == 0, "hourglass channels must be divisible by 4")
        _check(self.num_stacks >= 1 and self.depth >= 1, "num_stacks and depth must be >= 1")
        _check(self.norm in ("group", "batch", "instance"), f"unknown norm {self.norm!r}")

    @property
    def stride(self) -> int:
        """Input pixels per feature pixel: 4 with pooling (512 -> 128), 2 without."""
        return 4 if self.pool else 2


@dataclass(frozen=True)
class MlpConfig:
    """Pixel-aligned MLP of 1x1 convolutions (PIFu's surface classifier)."""

    dims: tuple[int, ...] = (257, 1024, 512, 256, 128, 1)
    """Widths from input to output."""
    skip_layers: tuple[int, ...] = (2, 3, 4)
    """0-based layers whose input is the previous output concatenated with the MLP input."""
    merge_layer: int = 2
    """Layer whose activated output is exposed as the intermediate feature (Omega)."""
    norm: MlpNorm = "none"
    """Normalisation between layers (the released model uses none)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(int(d) for d in self.dims))
        object.__setattr__(self, "skip_layers", tuple(int(d) for d in self.skip_layers))
        n = len(self.dims) - 1
        _check(n >= 1, "an MLP needs at least two widths")
        _check(all(0 < s < n for s in self.skip_layers), "skip layers must be in 1..len(dims)-2")
        _check(0 <= self.merge_layer < n, "merge_layer must name a layer of the MLP")
        _check(self.norm in ("none", "group", "batch"), f"unknown mlp norm {self.norm!r}")

    @property
    def merge_channels(self) -> int:
        """Width of the intermediate feature exposed at ``merge_layer``."""
        return self.dims[self.merge_layer + 1]


@dataclass(frozen=True)
class NormalNetConfig:
    """pix2pixHD global generator (Wang et al. 2018) mapping RGB to a normal map."""

    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 64
    """Width of the first layer; doubles at each downsampling."""
    num_downsample: int = 4
    num_blocks: int = 9
    """Residual blocks at the bottleneck."""


@dataclass(frozen=True)
class CoarseConfig:
    """The coarse level: image 512^2 + normal maps -> 128^2 features -> occupancy and Omega."""

    encoder: HourglassConfig = field(default_factory=HourglassConfig)
    mlp: MlpConfig = field(default_factory=MlpConfig)
    front_normal: NormalNetConfig | None = field(default_factory=NormalNetConfig)
    back_normal: NormalNetConfig | None = field(default_factory=NormalNetConfig)
    image_size: int = 512
    """Side of the square input image (the original's ``loadSize``)."""
    z_size: float = 200.0
    """Depth normaliser: the MLP sees z * (image_size / 2) / z_size."""
    body_channels: int = 0
    """Per-point features of the body fitted to the photo appended to the MLP's input after
    depth (``pifuhd.geometry.body_field``: 4, truncated signed distance and normal); 0 for
    the paper's model."""

    def __post_init__(self) -> None:
        _check(self.body_channels in (0, 4), "body_channels must be 0 or 4")
        expected_in = 3 + 3 * (self.front_normal is not None) + 3 * (self.back_normal is not None)
        _check(
            self.encoder.in_channels == expected_in,
            f"coarse encoder takes {self.encoder.in_channels} channels but RGB + normals "
            f"give {expected_in}",
        )
        _check(
            self.mlp.dims[0] == self.encoder.out_channels + 1 + self.body_channels,
            "coarse MLP input must be encoder features + 1 (depth) + body_channels",
        )


@dataclass(frozen=True)
class FineConfig:
    """The fine level: image 1024^2 + normal maps -> 512^2 features; MLP takes Omega."""

    encoder: HourglassConfig = field(
        default_factory=lambda: HourglassConfig(num_stacks=1, out_channels=16, pool=False)
    )
    mlp: MlpConfig = field(
        default_factory=lambda: MlpConfig(
            dims=(272, 512, 256, 128, 1), skip_layers=(1, 2), merge_layer=1
        )
    )
    image_size: int = 1024
    """Side of the square input image at test time (training uses crops of half the size)."""


@dataclass(frozen=True)
class PIFuHDConfig:
    """Both levels of PIFuHD."""

    coarse: CoarseConfig = field(default_factory=CoarseConfig)
    fine: FineConfig = field(default_factory=FineConfig)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        omega = self.coarse.mlp.merge_channels
        _check(
            self.fine.mlp.dims[0] == self.fine.encoder.out_channels + omega,
            f"fine MLP input must be fine features ({self.fine.encoder.out_channels}) + "
            f"Omega ({omega}), got {self.fine.mlp.dims[0]}",
        )
        _check(
            self.fine.encoder.in_channels == self.coarse.encoder.in_channels,
            "both levels must see the same input channels",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PIFuHDConfig:
        """Inverse of ``to_dict``; unknown keys and newer format versions are errors."""
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"config format_version {version} is newer than this pifuhd supports "
                f"({FORMAT_VERSION}); upgrade pifuhd"
            )
        return _build(cls, data)

    @classmethod
    def from_json(cls, text: str) -> PIFuHDConfig:
        return cls.from_dict(json.loads(text))


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


_NESTED: dict[tuple[type, str], type] = {
    (PIFuHDConfig, "coarse"): CoarseConfig,
    (PIFuHDConfig, "fine"): FineConfig,
    (CoarseConfig, "encoder"): HourglassConfig,
    (CoarseConfig, "mlp"): MlpConfig,
    (CoarseConfig, "front_normal"): NormalNetConfig,
    (CoarseConfig, "back_normal"): NormalNetConfig,
    (FineConfig, "encoder"): HourglassConfig,
    (FineConfig, "mlp"): MlpConfig,
}


def _build(cls: type, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        sub = _NESTED.get((cls, key))
        if sub is not None and value is not None:
            value = _build(sub, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def official_config() -> PIFuHDConfig:
    """The released PIFuHD architecture (384,608,153 parameters)."""
    return PIFuHDConfig()


def small_config() -> PIFuHDConfig:
    """A CPU-trainable PIFuHD with the same structure as the official one.

    Sizes and why:
    - normal nets: 16 base channels, 3 downsamplings, 6 residual blocks (about 1.3 M
      parameters each instead of 182 M). The normal maps are low-frequency images; their
      bottleneck at 64^2 (from 512^2) still sees the whole body.
    - coarse encoder: 2 stacks of width 64 with 64 output channels (the official uses 4 of
      256): a 128^2 feature map still, so the pixel alignment is unchanged. Width 64 trains
      2.5x faster than width 128 on a 2-core CPU (0.9 s against 2.2 s per batch of four
      512^2 images, forward and backward in bf16), which buys more steps in a fixed budget.
    - coarse MLP: (65, 256, 128, 64, 32, 1) with the official skips; Omega is 64-d.
    - fine encoder: 1 stack of width 64, 16 outputs, no pooling (512^2 features as official).
    - fine MLP: (80, 128, 64, 32, 1) with the official skips.
    """
    normal = NormalNetConfig(base_channels=16, num_downsample=3, num_blocks=6)
    coarse = CoarseConfig(
        encoder=HourglassConfig(num_stacks=2, depth=2, channels=64, out_channels=64, pool=True),
        mlp=MlpConfig(dims=(65, 256, 128, 64, 32, 1), skip_layers=(2, 3, 4), merge_layer=2),
        front_normal=normal,
        back_normal=normal,
    )
    fine = FineConfig(
        encoder=HourglassConfig(num_stacks=1, depth=2, channels=64, out_channels=16, pool=False),
        mlp=MlpConfig(dims=(80, 128, 64, 32, 1), skip_layers=(1, 2), merge_layer=1),
    )
    return PIFuHDConfig(coarse=coarse, fine=fine)


def body_config() -> PIFuHDConfig:
    """``small`` with the fitted body's 4 features (``pifuhd.geometry.body_field``) in the
    coarse MLP: (69, 256, 128, 64, 32, 1). The body prior of ICON / PaMIR; the PIFuHD paper
    names human priors as future work."""
    base = small_config()
    mlp = dataclasses.replace(base.coarse.mlp, dims=(69, *base.coarse.mlp.dims[1:]))
    coarse = dataclasses.replace(base.coarse, mlp=mlp, body_channels=4)
    return dataclasses.replace(base, coarse=coarse)


PRESETS = {"official": official_config, "small": small_config, "body": body_config}


def preset(name: str) -> PIFuHDConfig:
    """Configuration of a named preset (``official`` or ``small``)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
