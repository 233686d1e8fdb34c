"""Training losses: the paper's weighted BCE against a slow reference, its stability, the
normal loss, the validation counts, and the VGG19 perceptual loss with local weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pifuhd.errors import CheckpointError
from pifuhd.train.losses import (
    confusion_counts,
    iou_precision_recall,
    normal_loss,
    outside_ratio,
    stacked_occupancy_loss,
    weighted_occupancy_bce,
)
from pifuhd.train.vgg import (
    TAPS,
    PerceptualLoss,
    VGG19Features,
    load_perceptual_loss,
    read_vgg19_weights,
    vgg19_layers,
)

ATOL = 1e-6
"""Float32 loss vs the float64 reference."""


pytestmark = pytest.mark.usefixtures("one_thread")


def reference_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The paper's formula, literally, in float64: -mean(l f* log f + (1-l)(1-f*) log(1-f))."""
    x, y = logits.double(), labels.double()
    lam = (y == 0).double().mean()
    f = torch.sigmoid(x)
    return -(lam * y * torch.log(f) + (1 - lam) * (1 - y) * torch.log(1 - f)).mean()


def test_weighted_bce_matches_the_paper_formula() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 300, generator=g) * 3
    labels = (torch.rand(2, 1, 300, generator=g) < 0.3).float()
    got = weighted_occupancy_bce(logits, labels)
    torch.testing.assert_close(got.double(), reference_bce(logits, labels), atol=ATOL, rtol=0)
    assert outside_ratio(labels).item() == pytest.approx(1 - labels.mean().item())
    # balanced labels: lambda = 0.5, half the plain BCE
    balanced = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    x = torch.tensor([[[0.3, -1.0, 2.0, 0.5]]])
    plain = torch.nn.functional.binary_cross_entropy_with_logits(x, balanced)
    torch.testing.assert_close(weighted_occupancy_bce(x, balanced), 0.5 * plain)


def test_weighted_bce_is_stable_and_masked() -> None:
    labels = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])  # lambda = 0.5
    logits = torch.tensor([[[200.0, -200.0, -200.0, 200.0]]])
    loss = weighted_occupancy_bce(logits, labels)
    # right answers cost 0, wrong ones 200 each, weighted 0.5: (0.5*200 + 0.5*200) / 4
    assert torch.isfinite(loss) and loss.item() == pytest.approx(50.0)
    logits.requires_grad_(True)
    weighted_occupancy_bce(logits, labels).backward()
    assert torch.isfinite(logits.grad).all()
    # masked points change neither the loss nor lambda
    valid = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
    x = torch.tensor([[[0.5, 9.0, -0.2, 0.1]]])
    kept = weighted_occupancy_bce(x[..., [0, 2, 3]], labels[..., [0, 2, 3]])
    torch.testing.assert_close(weighted_occupancy_bce(x, labels, valid), kept)
    assert outside_ratio(labels, torch.zeros_like(labels)).item() == 0.5


def test_plain_bce_option_is_the_unweighted_bce() -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 1, 50)
    labels = (torch.rand(2, 1, 50) < 0.2).float()
    plain = weighted_occupancy_bce(logits, labels, balance=False)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    assert torch.allclose(plain, expected, atol=1e-6)
    assert not torch.allclose(weighted_occupancy_bce(logits, labels), plain, atol=1e-3)


def _fit_shared_logit(labels: torch.Tensor, balance: bool) -> float:
    """sigmoid of one logit shared by the first 100 of 400 points, the other 300 held at
    logit -30, fitted to ``labels`` (1, 1, 400) by the occupancy BCE."""
    logit = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([logit], max_iter=200, line_search_fn="strong_wolfe")
    fixed = torch.full((1, 1, 300), -30.0)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = torch.cat([logit.expand(1, 1, 100), fixed], dim=-1)
        loss = weighted_occupancy_bce(logits, labels, balance=balance)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.sigmoid(logit).item()


@pytest.mark.parametrize("balance", [True, False])
def test_where_each_loss_puts_the_half_surface(balance: bool) -> None:
    """One logit fitted to 100 points inside with share p, in a batch with 300 fixed outside
    points: the weighted loss's optimum is f = lam p / (lam p + (1 - lam)(1 - p)), so f = 0.5
    at p = 1 - lam (the batch's inside share), the plain loss's optimum is f = p."""
    for p in (0.2, 0.5, 0.8):
        labels = torch.zeros(1, 1, 400)
        labels[..., : round(100 * p)] = 1.0
        lam = 1.0 - labels.mean().item()
        f = _fit_shared_logit(labels, balance)
        expected = lam * p / (lam * p + (1 - lam) * (1 - p)) if balance else p
        assert f == pytest.approx(expected, abs=1e-3)
        if balance:  # the half surface sits below p = 0.5: at the inside share
            assert (f > 0.5) == (p > 1 - lam)


def test_stacked_loss_averages_the_stacks() -> None:
    labels = torch.tensor([[[1.0, 0.0, 0.0]]])
    a, b = torch.tensor([[[1.0, -2.0, 0.5]]]), torch.tensor([[[-1.0, 0.0, 3.0]]])
    expected = (weighted_occupancy_bce(a, labels) + weighted_occupancy_bce(b, labels)) / 2
    torch.testing.assert_close(stacked_occupancy_loss([a, b], labels), expected)


def test_normal_loss_weights() -> None:
    pred = torch.zeros(1, 3, 8, 8)
    target = torch.full((1, 3, 8, 8), 0.5)
    loss, parts = normal_loss(pred, target)
    assert loss.item() == pytest.approx(5 * 0.5) and "vgg" not in parts
    loss, parts = normal_loss(pred, target, perceptual=lambda p, t: torch.tensor(2.0))
    assert loss.item() == pytest.approx(2.5 + 2.0) and parts["vgg"].item() == 2.0


def test_confusion_counts_and_ratios() -> None:
    occupancy = torch.tensor([[[0.9, 0.8, 0.2, 0.1, 0.7]]])
    labels = torch.tensor([[[1.0, 0.0, 1.0, 0.0, 1.0]]])
    counts = confusion_counts(occupancy, labels)
    assert counts.tolist() == [2.0, 1.0, 1.0]
    metrics = iou_precision_recall(counts)
    assert metrics == pytest.approx({"iou": 0.5, "precision": 2 / 3, "recall": 2 / 3})
    assert iou_precision_recall(torch.zeros(3)) == {"iou": 1.0, "precision": 1.0, "recall": 1.0}


# ---- VGG19 ----------------------------------------------------------------------------

TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
"""Indices of the convolutions in torchvision's vgg19().features."""


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    """A random torchvision-style VGG19 state dict (features up to relu5_1, + a classifier key)."""
    torch.manual_seed(0)
    layers = vgg19_layers()
    state = {f"features.{k}": v * 0.5 for k, v in layers.state_dict().items()}
    state["classifier.0.bias"] = torch.zeros(4096)
    return state


def test_vgg_layer_numbering_matches_torchvision() -> None:
    full = vgg19_layers(last=35)
    convs = tuple(i for i, m in enumerate(full) if isinstance(m, torch.nn.Conv2d))
    assert convs == TORCHVISION_CONVS
    assert all(isinstance(full[i], torch.nn.ReLU) for i in TAPS)
    assert len(vgg19_layers()) == TAPS[-1] + 1


def test_vgg_weights_load_from_pth_and_safetensors(
    vgg_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    torch.save(vgg_state, tmp_path / "vgg19.pth")
    save_file(vgg_state, str(tmp_path / "vgg19.safetensors"))
    a = load_perceptual_loss(tmp_path / "vgg19.pth")
    b = load_perceptual_loss(tmp_path / "vgg19.safetensors")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    torch.testing.assert_close(a.vgg.features[28].weight, vgg_state["features.28.weight"])

    g = torch.Generator().manual_seed(1)
    target = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    pred = (torch.rand(1, 3, 16, 16, generator=g) * 2 - 1).requires_grad_(True)
    assert a(target, target).item() == 0.0
    loss = a(pred, target)
    loss.backward()
    assert loss.item() > 0 and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in a.parameters())


def test_vgg_bad_weights_are_clear_errors(
    vgg_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        read_vgg19_weights(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read VGG19 weights"):
        read_vgg19_weights(tmp_path / "junk.pth")
    partial = {k: v for k, v in vgg_state.items() if k != "features.28.weight"}
    with pytest.raises(CheckpointError, match=r"features\.28\.weight"):
        VGG19Features().load_torchvision(partial, "partial")
    wrong = dict(vgg_state, **{"features.0.weight": torch.zeros(64, 4, 3, 3)})
    with pytest.raises(CheckpointError, match="shape"):
        VGG19Features().load_torchvision(wrong, "wrong")
    assert isinstance(PerceptualLoss(VGG19Features()), torch.nn.Module)
