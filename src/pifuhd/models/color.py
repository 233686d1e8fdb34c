"""The colour network: a pixel-aligned implicit function for albedo (PIFu, ICCV 2019, Sec. 3.2).

c(X) = g_c(Psi(x, I), Phi_g(x, I), Z): the RGB image is encoded by its own ResNet-style
encoder Psi; a point X of the normalised cube is projected to x with the same calibration as
the geometry, and the MLP g_c gets the colour feature, the frozen geometry network's coarse
feature Phi_g (last hourglass stack) and the normalised depth Z (as the coarse occupancy MLP;
PIFu's colour MLP also takes it: without it every point of a camera ray would get one colour,
front and back alike). Output: 3 channels through tanh, in [-1, 1]; sRGB in [0, 1] is
``(c + 1) / 2`` (``to_srgb``). Colours are albedo: the training targets are the scan's
unshaded surface colour, whatever light the photo was taken under.

Frames: points (B, 3, N) in the normalised cube of ``docs/conventions.md``; calib (B, 3|4, 4)
cube -> (u, v, depth), ``diag(1, -1, 1)`` at test time, exactly as for the geometry.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pifuhd.config import MlpConfig, Norm, PIFuHDConfig
from pifuhd.geometry.projection import default_calib, orthographic, sample_features
from pifuhd.models.hourglass import make_norm
from pifuhd.models.mlp import PixelAlignedMLP

COLOR_FORMAT_VERSION = 1
RESIDUAL_LIMIT = 0.995
LIGHT_CODE_CHANNELS = 6
"""The light code: per-channel mean and standard deviation of the points' photo colours."""
"""The photo's colour is clamped to [-this, this] before atanh (atanh(0.995) = 3.0)."""


@dataclass(frozen=True)
class ColorConfig:
    """The colour network: ResNet image encoder + pixel-aligned MLP to RGB (tanh)."""

    geometry_channels: int = 64
    """Channels of the frozen geometry's coarse feature concatenated per point (its coarse
    encoder's ``out_channels``: 64 for the small preset, 256 for the official one)."""
    in_channels: int = 3
    """Encoder input channels: the RGB image in [-1, 1]."""
    base_channels: int = 16
    """Width of the encoder's first layer; doubles at every downsampling."""
    num_downsample: int = 2
    """Stride-2 convolutions: 2 maps a 512^2 image to 128^2 features, as the coarse geometry."""
    num_blocks: int = 6
    """Residual blocks at the feature resolution (PIFu's colour encoder: 6)."""
    norm: Norm = "instance"
    """Normalisation of the encoder: instance (same in training and evaluation), group, batch."""
    mlp_hidden: tuple[int, ...] = (256, 128, 64)
    """Hidden widths of the MLP (PIFu: 1024, 512, 256, 128); leaky ReLU between layers."""
    mlp_skip_layers: tuple[int, ...] = ()
    """0-based MLP layers whose input is re-concatenated with the MLP input."""
    use_depth: bool = True
    """Feed the normalised depth z * (image_size // 2) / z_size to the MLP (PIFu does)."""
    image_skip: bool = False
    """Append the image itself, averaged over each feature pixel (``stride`` x ``stride``),
    to the encoder's features: the MLP then sees the photo's colour at the point's
    projection. Our addition, not PIFu's: the instance-normalised encoder removes each
    channel's mean over the image, and with it the photo's absolute colour and brightness."""
    residual: bool = False
    """Predict a correction to the photo's colour at the point instead of the colour itself:
    ``tanh(atanh(p) + logits)``, ``p`` the image-skip colour in [-1, 1] (needs
    ``image_skip``). With the MLP's last layer at zero the net returns the photo's colour, as
    ``--texture photo`` does for a seen point; training learns what differs (the light, the
    hidden side). Our addition, not PIFu's."""
    light_code: bool = False
    """Give the MLP a code of the photo's light: the mean and standard deviation, over the
    queried points, of their image-skip colours (6 numbers per image, the same for every
    point; needs ``image_skip``). The points lie on the person, so the code describes the
    person's pixels, not the background's. Our addition, not PIFu's."""
    light_input: bool = False
    """Give the MLP the photo's light as one number per image, the harshness ``h`` in [0, 1]
    (0: soft, even light, under which the photo is nearly the albedo; 1: directional or
    coloured light). Training takes it from the render's light preset
    (``pifuhd.data.color_dataset.LIGHT_HARSHNESS``), inference from the photo
    (``pifuhd.photo_light.light_harshness``). Under a clear light the net can then leave the
    photo's colours as they are and still correct a harsh one. Our addition, not PIFu's."""
    sharp_residual: bool = False
    """With ``residual``: correct the photo's colour at the point's own pixel of a sharp
    photo (``query``'s ``photo``: the coarse image in training, the fine crop at inference,
    both with the person mask's edge filled from within as ``--texture photo`` uses them)
    instead of the image skip's 4 x 4 block mean. The net's colours are then as sharp as the
    photo's; the MLP still sees the block means. Our addition, not PIFu's."""
    image_size: int = 512
    """Side of the square input image (the coarse geometry's image size)."""
    z_size: float = 200.0
    """Depth normaliser, as the coarse geometry's."""
    format_version: int = COLOR_FORMAT_VERSION
    """Version of this format; newer files are refused."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mlp_hidden", tuple(int(d) for d in self.mlp_hidden))
        object.__setattr__(self, "mlp_skip_layers", tuple(int(d) for d in self.mlp_skip_layers))
        for name in ("geometry_channels", "in_channels", "base_channels", "image_size"):
            _check(getattr(self, name) >= 1, f"colour {name} must be at least 1")
        _check(self.num_downsample >= 0 and self.num_blocks >= 0, "colour sizes must be >= 0")
        _check(self.norm in ("group", "batch", "instance"), f"unknown norm {self.norm!r}")
        _check(
            self.image_size % self.stride == 0,
            f"colour image_size {self.image_size} must be divisible by the stride {self.stride}",
        )
        _check(all(d >= 1 for d in self.mlp_hidden), "colour MLP widths must be >= 1")
        _check(not self.residual or self.image_skip, "a residual colour net needs image_skip")
        _check(not self.light_code or self.image_skip, "a light code needs image_skip")
        _check(not self.sharp_residual or self.residual, "sharp_residual needs residual")
        _ = self.mlp_config  # validates the skip layers

    @property
    def stride(self) -> int:
        """Input pixels per feature pixel: 2 ** num_downsample."""
        return 2**self.num_downsample

    @property
    def encoder_channels(self) -> int:
        """Channels of the encoder's output: base_channels * 2 ** num_downsample."""
        return self.base_channels * 2**self.num_downsample

    @property
    def feature_channels(self) -> int:
        """Channels of the colour feature map: the encoder's, plus the image's 3 with
        ``image_skip``."""
        return self.encoder_channels + 3 * int(self.image_skip)

    @property
    def mlp_config(self) -> MlpConfig:
        """The MLP: colour feature + geometry feature (+ depth) -> hidden widths -> 3."""
        width = self.feature_channels + self.geometry_channels + int(self.use_depth)
        width += LIGHT_CODE_CHANNELS * int(self.light_code) + int(self.light_input)
        return MlpConfig(
            dims=(width, *self.mlp_hidden, 3), skip_layers=self.mlp_skip_layers, merge_layer=0
        )

    @classmethod
    def for_geometry(cls, geometry: PIFuHDConfig, **changes: Any) -> ColorConfig:
        """A colour net matching ``geometry``'s coarse level (feature width, image and depth
        scale); ``changes`` set other fields (e.g. base_channels, num_blocks)."""
        coarse = geometry.coarse
        base = {
            "geometry_channels": coarse.encoder.out_channels,
            "image_size": coarse.image_size,
            "z_size": coarse.z_size,
        }
        return cls(**{**base, **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["mlp_hidden"] = list(self.mlp_hidden)
        data["mlp_skip_layers"] = list(self.mlp_skip_layers)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColorConfig:
        """Inverse of ``to_dict``; unknown keys and newer format versions are errors."""
        if not isinstance(data, dict):
            raise ValueError(f"ColorConfig: expected an object, got {type(data).__name__}")
        version = data.get("format_version", COLOR_FORMAT_VERSION)
        if not isinstance(version, int) or version > COLOR_FORMAT_VERSION:
            raise ValueError(
                f"colour config format_version {version!r} is newer than this pifuhd supports "
                f"({COLOR_FORMAT_VERSION}); upgrade pifuhd"
            )
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"ColorConfig: unknown keys {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def from_json(cls, text: str) -> ColorConfig:
        return cls.from_dict(json.loads(text))


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class ResidualBlock(nn.Module):
    """x + (conv3x3 - norm - ReLU - conv3x3 - norm)(x), reflection padding; (B, C, H, W)."""

    def __init__(self, channels: int, norm: Norm) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.norm1 = make_norm(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.norm2 = make_norm(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(y))


class ResNetEncoder(nn.Module):
    """ResNet-style image encoder (Johnson et al. 2016, as PIFu's colour encoder): a 7x7 stem,
    ``num_downsample`` stride-2 3x3 convolutions doubling the width, ``num_blocks`` residual
    blocks. (B, in_channels, H, W) -> (B, feature_channels, H / stride, W / stride)."""

    def __init__(self, config: ColorConfig) -> None:
        super().__init__()
        c = config.base_channels
        layers: list[nn.Module] = [
            nn.Conv2d(config.in_channels, c, 7, padding=3, padding_mode="reflect"),
            make_norm(config.norm, c),
            nn.ReLU(),
        ]
        for _ in range(config.num_downsample):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), make_norm(config.norm, 2 * c)]
            layers.append(nn.ReLU())
            c *= 2
        layers += [ResidualBlock(c, config.norm) for _ in range(config.num_blocks)]
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image)


class ColorNet(nn.Module):
    """Albedo at points: ``image_filter`` (ResNetEncoder) and ``mlp`` (PixelAlignedMLP)."""

    def __init__(self, config: ColorConfig) -> None:
        super().__init__()
        self.config = config
        self.image_filter = ResNetEncoder(config)
        self.mlp = PixelAlignedMLP(config.mlp_config)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """image (B, 3, S, S) in [-1, 1] (the coarse image) -> (B, C, S/stride, S/stride),
        C = ``config.feature_channels`` (with ``image_skip`` the last 3 are the image's mean
        over each feature pixel)."""
        features = self.image_filter(image)
        if not self.config.image_skip:
            return features
        stride = self.config.stride
        return torch.cat([features, F.avg_pool2d(image[:, :3], stride, stride)], dim=1)

    def depth_feature(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised depth fed to the MLP: z * (image_size // 2) / z_size."""
        return z * (self.config.image_size // 2) / self.config.z_size

    def light_code_of(
        self, features: torch.Tensor, points: torch.Tensor, calib: torch.Tensor
    ) -> torch.Tensor:
        """(B, 6, 1): mean and standard deviation over the N points (B, 3, N) of their
        image-skip colours (the last 3 channels of ``features``)."""
        uv = orthographic(points, calib)[:, :2]
        colors = sample_features(features[:, -3:], uv).float()
        return torch.cat([colors.mean(2, keepdim=True), colors.std(2, keepdim=True)], dim=1)

    def query(
        self,
        features: torch.Tensor,
        geometry_features: torch.Tensor,
        points: torch.Tensor,
        calib: torch.Tensor,
        code: torch.Tensor | None = None,
        light: torch.Tensor | None = None,
        photo: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Colours (B, 3, N) in [-1, 1] (tanh) at points.

        features: (B, C, h, w) from ``encode``; geometry_features: (B, C_g, h', w') the frozen
        geometry's coarse feature map (last stack); points: (B, 3, N) in the cube; calib:
        (B, 3|4, 4). Points projecting outside the image see zero features (no masking).
        code: (B, 6, 1) light code (``light_code``); None = from these points.
        light: (B,) harshness in [0, 1] (``light_input``); None = 1 (a harsh light).
        photo: (B, 3, H, W) in [-1, 1], any H = W, the sharp photo whose colour at each point's
        projection a ``sharp_residual`` net corrects (required there, unused otherwise).

        Raises:
            ValueError: a ``sharp_residual`` net without ``photo``.
        """
        xyz = orthographic(points, calib)
        uv = xyz[:, :2]
        own = sample_features(features, uv)
        parts = [own, sample_features(geometry_features, uv)]
        if self.config.use_depth:
            parts.append(self.depth_feature(xyz[:, 2:3]))
        if self.config.light_code:
            code = self.light_code_of(features, points, calib) if code is None else code
            parts.append(code.to(own.dtype).expand(-1, -1, own.shape[2]))
        if self.config.light_input:
            if light is None:
                light = own.new_ones(own.shape[0])
            parts.append(light.to(own.dtype).reshape(-1, 1, 1).expand(-1, 1, own.shape[2]))
        logits, _ = self.mlp.forward_logits(torch.cat(parts, dim=1))
        if not self.config.residual:
            return torch.tanh(logits)
        if self.config.sharp_residual:
            if photo is None:
                raise ValueError("a sharp_residual colour net needs the photo")
            base = sample_features(photo.to(own.dtype), uv)
        else:
            base = own[:, -3:]
        photo = base.float().clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT)
        return torch.tanh(torch.atanh(photo) + logits.float())

    def forward(
        self,
        image: torch.Tensor,
        geometry_features: torch.Tensor,
        points: torch.Tensor,
        calib: torch.Tensor,
    ) -> torch.Tensor:
        """Colours (B, 3, N) in [-1, 1] of points given the image (see ``query``; a
        ``sharp_residual`` net corrects this image's colours)."""
        return self.query(self.encode(image), geometry_features, points, calib, photo=image)


def to_srgb(colors: torch.Tensor) -> torch.Tensor:
    """Network colours in [-1, 1] -> sRGB in [0, 1]: (c + 1) / 2, clamped."""
    return ((colors + 1.0) * 0.5).clamp(0.0, 1.0)


@torch.inference_mode()
def net_vertex_colors(
    color: ColorNet,
    color_features: torch.Tensor,
    geometry_features: torch.Tensor,
    vertices: np.ndarray,
    chunk: int,
    light: float | None = None,
    photo: torch.Tensor | None = None,
) -> np.ndarray:
    """(V, 3) float32 sRGB albedo in [0, 1] of ``color`` at ``vertices`` (V, 3) in the cube,
    ``chunk`` points per call. ``color_features``: the net's ``encode`` of the photo;
    ``geometry_features``: the geometry's coarse feature map (1, C, h, w). The light code, when
    the net has one, is taken over all the vertices (the same for every chunk). ``light``: the
    photo's harshness in [0, 1] for a net with ``light_input`` (None: 1, a harsh light).
    ``photo``: (1, 3, H, W) in [-1, 1], the sharp photo of a ``sharp_residual`` net."""
    device = color_features.device
    calib = default_calib(1, device)
    out = np.empty((len(vertices), 3), dtype=np.float32)
    code = None
    if color.config.light_code:
        every = torch.from_numpy(np.asarray(vertices, dtype=np.float32)).to(device)
        code = color.light_code_of(color_features, every.T.unsqueeze(0), calib)
    for start in range(0, len(vertices), chunk):
        part = np.asarray(vertices[start : start + chunk], dtype=np.float32)
        pts = torch.from_numpy(part).to(device).T.unsqueeze(0)
        harsh = None if light is None else torch.full((1,), float(light), device=device)
        colors = color.query(color_features, geometry_features, pts, calib, code, harsh, photo)
        out[start : start + len(part)] = to_srgb(colors)[0].T.float().cpu().numpy()
    return out
