"""The CIELAB L1 colour loss (``pifuhd.train.lab``): the same conversion as the metrics, with
gradients, and a distance that ranks colours the way CIEDE2000 does where sRGB L1 does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pifuhd.eval.color_metrics import ciede2000
from pifuhd.eval.color_metrics import srgb_to_lab as lab_numpy
from pifuhd.train.config import ConfigError, TrainConfig
from pifuhd.train.lab import lab_l1, srgb_to_lab


def test_conversion_matches_the_metrics_and_known_colours() -> None:
    rgb = torch.rand(2, 3, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = srgb_to_lab(rgb).numpy()
    reference = lab_numpy(rgb.movedim(1, -1).numpy()).transpose(0, 2, 1)
    np.testing.assert_allclose(ours, reference, atol=1e-9)
    white_red = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    # CIELAB of sRGB white and red (D65): (100, 0, 0) and about (53.24, 80.09, 67.20)
    np.testing.assert_allclose(
        srgb_to_lab(white_red, dim=-1).numpy(), [[100, 0, 0], [53.24, 80.09, 67.20]], atol=0.02
    )


def test_loss_is_zero_for_equal_colours_and_has_finite_gradients_at_black() -> None:
    target = torch.tensor([[[0.0, 0.2], [0.0, 0.5], [0.0, 0.9]]])
    pred = target.clone().requires_grad_()
    loss = lab_l1(pred, target)
    assert float(loss.detach()) == 0.0
    lab_l1(pred + 0.01, target).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_lab_ranks_like_ciede2000_where_srgb_l1_cannot() -> None:
    target = np.array([[0.55, 0.45, 0.40]])  # a beige
    greener = np.array([[0.55, 0.50, 0.40]])  # green channel up by 0.05
    darker = np.array([[0.50, 0.45, 0.40]])  # red channel down by 0.05
    srgb = [float(np.abs(c - target).mean()) for c in (greener, darker)]
    assert srgb[0] == pytest.approx(srgb[1])  # sRGB L1 cannot tell them apart
    de = [float(ciede2000(lab_numpy(c), lab_numpy(target))[0]) for c in (greener, darker)]
    lab = [float(lab_l1(torch.tensor(c), torch.tensor(target), dim=-1)) for c in (greener, darker)]
    assert de[0] > 1.5 * de[1]  # the eye: the hue shift is far worse (10.7 against 6.1)
    assert lab[0] > 1.5 * lab[1]


def test_config_accepts_only_known_spaces() -> None:
    assert TrainConfig(color_l1_space="lab").color_l1_space == "lab"
    with pytest.raises(ConfigError, match="color_l1_space"):
        TrainConfig(color_l1_space="hsv")  # type: ignore[arg-type]
