"""Networks: the official layout, the small preset, and the forward-pass conventions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from pifuhd.config import MlpConfig, PIFuHDConfig, official_config, preset, small_config
from pifuhd.geometry.projection import default_calib
from pifuhd.models.hourglass import ConvBlock, HourglassEncoder
from pifuhd.models.mlp import PixelAlignedMLP
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.models.summary import parameter_counts
from tests.conftest import random_images, tiny_config

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
ATOL = 1e-6


def _reference_shapes() -> dict[str, tuple[int, ...]]:
    path = REFERENCE / "official_pifuhd_state_dict.txt"
    if not path.exists():  # the reference lives beside the checkout; keep a copy in assets
        path = Path(__file__).parent / "assets" / "official_pifuhd_state_dict.txt"
    shapes = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        shapes[key] = tuple(int(d) for d in re.findall(r"\d+", shape))
    return shapes


@pytest.fixture(scope="module")
def official_model() -> PIFuHD:
    with torch.device("meta"):
        return PIFuHD(official_config())


def test_official_state_dict_matches_release(official_model: PIFuHD) -> None:
    ours = {k: tuple(v.shape) for k, v in official_model.state_dict().items()}
    reference = _reference_shapes()
    assert len(reference) == 698
    assert list(ours) == list(reference)  # same names, same order
    assert ours == reference  # same shapes


def test_official_parameter_counts(official_model: PIFuHD) -> None:
    path = Path(__file__).parent / "assets" / "official_pifuhd_param_counts.json"
    expected = json.loads(path.read_text())
    counts = parameter_counts(official_model)
    assert counts["TOTAL"] == expected["TOTAL"] == 384_608_153
    for label, count in counts.items():
        if label != "TOTAL":
            key = next(k for k in expected if k.split()[0] == label.split()[0])
            assert count == expected[key], label


def test_small_preset_is_small_and_same_structure() -> None:
    with torch.device("meta"):
        small = PIFuHD(small_config())
        official = PIFuHD(official_config())
    assert parameter_counts(small)["TOTAL"] <= 15_000_000

    def pattern(key: str) -> str:
        return re.sub(r"\d+", "#", key)

    assert {pattern(k) for k in small.state_dict()} == {pattern(k) for k in official.state_dict()}


def test_conv_block_shares_bn4_with_downsample() -> None:
    block = ConvBlock(64, 128)
    assert block.downsample is not None and block.downsample[0] is block.bn4
    keys = block.state_dict().keys()
    assert "bn4.weight" in keys and "downsample.0.weight" in keys
    assert ConvBlock(64, 64).downsample is None


def test_encoder_output_sizes() -> None:
    cfg = tiny_config()
    coarse = HourglassEncoder(cfg.coarse.encoder)
    fine = HourglassEncoder(cfg.fine.encoder)
    x = torch.randn(2, 9, 64, 64)
    outs = coarse(x)
    assert len(outs) == 2 and outs[-1].shape == (2, 8, 16, 16)
    assert torch.equal(coarse(x, last_only=True)[0], outs[-1])
    assert fine(torch.randn(1, 9, 128, 128))[0].shape == (1, 4, 64, 64)


def test_mlp_matches_hand_computation() -> None:
    torch.manual_seed(0)
    cfg = MlpConfig(dims=(5, 7, 6, 4, 1), skip_layers=(2, 3), merge_layer=1)
    mlp = PixelAlignedMLP(cfg)
    x = torch.randn(2, 5, 11)
    w = [(f.weight[..., 0], f.bias[:, None]) for f in mlp.filters]
    act = torch.nn.functional.leaky_relu
    h1 = act(w[0][0] @ x + w[0][1])
    h2 = act(w[1][0] @ h1 + w[1][1])
    h3 = act(w[2][0] @ torch.cat([h2, x], 1) + w[2][1])
    out = torch.sigmoid(w[3][0] @ torch.cat([h3, x], 1) + w[3][1])
    occ, omega = mlp(x)
    assert torch.allclose(occ, out, atol=ATOL)
    assert torch.allclose(omega, h2, atol=ATOL)
    assert mlp.filters[2].in_channels == 6 + 5


def test_query_is_pointwise_and_masked() -> None:
    torch.manual_seed(0)
    model = PIFuHD(tiny_config()).eval()
    coarse, fine = random_images(0)
    with torch.no_grad():
        feats = model.encode(coarse, fine)
        pts = torch.rand(1, 3, 200) * 2.4 - 1.2
        occ = model.query(feats, pts, default_calib())
        perm = torch.randperm(200)
        assert torch.allclose(model.query(feats, pts[..., perm], default_calib()), occ[..., perm])
        halves = [model.query(feats, p, default_calib()) for p in pts.split(100, dim=2)]
        assert torch.allclose(torch.cat(halves, 2), occ, atol=ATOL)
    outside_xy = (pts[:, :2].abs() > 1).any(dim=1, keepdim=True)
    assert torch.all(occ[outside_xy] == 0)
    assert torch.all(occ[~outside_xy] > 0)


def test_batch_equals_parts() -> None:
    torch.manual_seed(1)
    model = PIFuHD(tiny_config()).eval()
    c0, f0 = random_images(0)
    c1, f1 = random_images(1)
    pts = torch.rand(2, 3, 50) * 2 - 1
    calib = default_calib(2)
    with torch.no_grad():
        both = model(torch.cat([c0, c1]), torch.cat([f0, f1]), pts, calib)
        one = model(c0, f0, pts[:1], calib[:1])
        two = model(c1, f1, pts[1:], calib[1:])
    assert torch.allclose(both, torch.cat([one, two]), atol=1e-5)


def test_config_json_round_trip_and_errors() -> None:
    for name in ("official", "small"):
        cfg = preset(name)
        assert PIFuHDConfig.from_json(cfg.to_json()) == cfg
    data = small_config().to_dict()
    data["coarse"]["encoder"]["stacks"] = 3
    with pytest.raises(ValueError, match="unknown keys"):
        PIFuHDConfig.from_dict(data)
    with pytest.raises(ValueError, match="newer"):
        PIFuHDConfig.from_dict({**small_config().to_dict(), "format_version": 99})
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


@pytest.mark.parametrize("autocast", [False, True])
def test_hourglass_inference_path_equals_the_autograd_path(autocast: bool) -> None:
    """Without autograd the hourglass works in place and upsamples a channel group at a
    time: bit for bit the values of the autograd path, in float32 and under bf16 autocast."""
    from dataclasses import replace

    from pifuhd.config import HourglassConfig
    from pifuhd.models.hourglass import UPSAMPLE_PARTS, Hourglass, HourglassEncoder

    torch.manual_seed(0)
    hourglass = Hourglass(2, 64, "group", 32).eval()
    assert 64 % UPSAMPLE_PARTS == 0 and UPSAMPLE_PARTS > 1
    x = torch.randn(1, 64, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with torch.no_grad():
            fast = hourglass(x)
        reference = hourglass(x).detach()
    assert torch.equal(fast, reference)
    # the whole encoder, whose stem and stacks let blocks consume their inputs
    for stacks, pool in ((1, False), (2, True)):
        config = HourglassConfig(in_channels=3, num_stacks=stacks, channels=64, out_channels=8)
        encoder = HourglassEncoder(replace(config, pool=pool)).eval()
        image = torch.randn(1, 3, 64, 64)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            with torch.no_grad():
                fast_features = encoder(image)
            slow_features = [f.detach() for f in encoder(image)]
        assert all(torch.equal(a, b) for a, b in zip(fast_features, slow_features, strict=True))
