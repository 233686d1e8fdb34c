"""The colour net told the photo's light (``ColorConfig.light_input``): a zero weight at
first, then colours that follow the harshness, one per image of a batch."""

from __future__ import annotations

import pytest
import torch

from pifuhd.geometry.projection import default_calib
from pifuhd.models.color_widen import with_image_skip, with_light_code, with_light_input
from pifuhd.models.pifuhd import PIFuHD
from tests.conftest import tiny_config
from tests.test_color import tiny_color

pytestmark = pytest.mark.usefixtures("one_thread")


def test_light_input_starts_unchanged_and_then_follows_the_light() -> None:
    """``with_light_input`` adds a zero weight (the same colours at any harshness); once the
    weight is set, the harshness moves the colours, None means 1 (harsh), and each image of a
    batch gets its own."""
    geometry = PIFuHD(tiny_config()).eval()
    skip = with_image_skip(tiny_color(geometry), residual=True).eval()
    net = with_light_input(skip).eval()
    assert net.config.light_input and net.config.mlp_config.dims[0] == 16 + 3 + 8 + 1 + 1
    with pytest.raises(ValueError, match="already takes the light"):
        with_light_input(net)
    with pytest.raises(ValueError, match="without a light code or input"):
        with_light_code(net)
    image = torch.rand(2, 3, 64, 64) * 1.6 - 0.8
    points = torch.rand(2, 3, 20) * 1.6 - 0.8
    calib = default_calib(2)
    geometry_features = torch.randn(2, 8, 16, 16)
    soft, harsh = torch.zeros(2), torch.ones(2)
    with torch.no_grad():
        features = net.encode(image)
        before = skip.query(features, geometry_features, points, calib)
        at_zero = net.query(features, geometry_features, points, calib, None, soft)
        net.mlp.filters[0].weight[:, -1] = 1.0
        net.mlp.filters[-1].weight.normal_()
        lit = [net.query(features, geometry_features, points, calib, None, h)
               for h in (soft, harsh, None, torch.tensor([0.0, 1.0]))]  # fmt: skip
    assert torch.allclose(before, at_zero, atol=1e-6)
    assert (lit[0] - lit[1]).abs().max() > 1e-3
    assert torch.equal(lit[1], lit[2])
    assert torch.allclose(lit[3][0], lit[0][0]) and torch.allclose(lit[3][1], lit[1][1])
