"""3D patch-wise SSIM: against slow references written out with explicit loops, patch layout,
identities and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pifuhd.train.patch_ssim import (
    C1,
    C2,
    color_loss,
    patch_offsets,
    patch_points,
    patch_ssim,
    patch_ssim_loss,
)

TOL = 1e-6
"""float64 inputs: the fast and slow versions differ by round-off only."""


def ssim_of(xs: list[float], ys: list[float]) -> float:
    """SSIM of two equally long lists, every statistic spelt out (population variances)."""
    n = len(xs)
    mu_x = sum(xs) / n
    mu_y = sum(ys) / n
    var_x = sum((x - mu_x) ** 2 for x in xs) / n
    var_y = sum((y - mu_y) ** 2 for y in ys) / n
    cov = sum((x - mu_x) * (y - mu_y) for x, y in zip(xs, ys, strict=True)) / n
    numerator = (2 * mu_x * mu_y + C1) * (2 * cov + C2)
    denominator = (mu_x**2 + mu_y**2 + C1) * (var_x + var_y + C2)
    return numerator / denominator


def reference_ssim(pred: np.ndarray, target: np.ndarray, size: int, stats: str) -> float:
    """Mean SSIM of (B, C, N * P) arrays by loops: per patch and channel ("patch"), or per
    position and channel over the patches ("across")."""
    p = size**3
    batch, channels, count = pred.shape
    n = count // p
    values = []
    for b in range(batch):
        for c in range(channels):
            if stats == "patch":
                for i in range(n):
                    xs = [float(pred[b, c, i * p + j]) for j in range(p)]
                    ys = [float(target[b, c, i * p + j]) for j in range(p)]
                    values.append(ssim_of(xs, ys))
            else:
                for j in range(p):
                    xs = [float(pred[b, c, i * p + j]) for i in range(n)]
                    ys = [float(target[b, c, i * p + j]) for i in range(n)]
                    values.append(ssim_of(xs, ys))
    return sum(values) / len(values)


def hand_patch() -> tuple[np.ndarray, np.ndarray]:
    """One 3x3x3 patch of RGB colours: a ramp along the patch index and a noisy, darker copy."""
    ramp = np.arange(27, dtype=np.float64) / 26.0
    pred = np.stack([ramp, 1.0 - ramp, 0.5 + 0.4 * np.sin(ramp * 6.0)])[None]  # (1, 3, 27)
    noise = np.random.default_rng(0).normal(0.0, 0.05, pred.shape)
    target = np.clip(0.8 * pred + 0.05 + noise, 0.0, 1.0)
    return pred, target


def test_loss_on_a_hand_made_patch_matches_the_explicit_formula() -> None:
    pred, target = hand_patch()
    expected = 1.0 - reference_ssim(pred, target, 3, "patch")
    assert 0.01 < expected < 1.0  # a real, non-trivial difference
    loss = patch_ssim_loss(torch.from_numpy(pred), torch.from_numpy(target))
    assert loss.dtype == torch.float64
    assert float(loss) == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("stats", ["patch", "across"])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_ssim_matches_the_loop_reference(stats: str, size: int) -> None:
    rng = np.random.default_rng(size)
    pred = rng.random((2, 3, 4 * size**3))
    target = np.clip(pred + rng.normal(0.0, 0.2, pred.shape), 0.0, 1.0)
    expected = reference_ssim(pred, target, size, stats)
    value = patch_ssim(torch.from_numpy(pred), torch.from_numpy(target), size=size, stats=stats)
    assert float(value) == pytest.approx(expected, abs=TOL)


def test_across_differs_from_patch() -> None:
    """The two statistics really are different computations on generic data."""
    rng = np.random.default_rng(9)
    pred, target = (
        torch.from_numpy(rng.random((1, 3, 5 * 27))),
        torch.from_numpy(rng.random((1, 3, 5 * 27))),
    )
    within = float(patch_ssim(pred, target, stats="patch"))
    across = float(patch_ssim(pred, target, stats="across"))
    assert abs(within - across) > 1e-3


@pytest.mark.parametrize("stats", ["patch", "across"])
def test_identical_inputs_give_zero_loss(stats: str) -> None:
    colors = torch.rand(2, 3, 6 * 27, generator=torch.Generator().manual_seed(1))
    assert float(patch_ssim_loss(colors, colors, stats=stats)) == pytest.approx(0.0, abs=TOL)
    loss = color_loss(colors, colors, l1_weight=1.0, ssim_weight=0.5, stats=stats)
    assert float(loss) == pytest.approx(0.0, abs=TOL)


def test_color_loss_is_the_weighted_sum() -> None:
    pred, target = (torch.from_numpy(a) for a in hand_patch())
    l1 = float((pred - target).abs().mean())
    ssim_loss = 1.0 - reference_ssim(pred.numpy(), target.numpy(), 3, "patch")
    loss = color_loss(pred, target, l1_weight=2.0, ssim_weight=0.25)
    assert float(loss) == pytest.approx(2.0 * l1 + 0.25 * ssim_loss, abs=TOL)
    # Without the SSIM term any point count works.
    odd = torch.rand(1, 3, 10)
    assert float(color_loss(odd, odd * 0.5, l1_weight=1.0, ssim_weight=0.0)) == pytest.approx(
        float((odd * 0.5).abs().mean()), abs=TOL
    )


def test_gradient_flows_through_a_colour_head() -> None:
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 3)
    features = torch.randn(2, 4 * 27, 8)  # (B, N * P, features)
    target = torch.rand(2, 3, 4 * 27)
    for stats in ("patch", "across"):
        head.zero_grad()
        pred = torch.sigmoid(head(features)).transpose(1, 2)  # (B, 3, N * P) in [0, 1]
        color_loss(pred, target, l1_weight=1.0, ssim_weight=1.0, stats=stats).backward()
        for parameter in head.parameters():
            assert parameter.grad is not None
            assert torch.isfinite(parameter.grad).all()
            assert parameter.grad.abs().sum() > 0


def test_patch_offsets_grid() -> None:
    offsets = patch_offsets(3, spacing=0.25, dtype=torch.float64)
    assert offsets.shape == (27, 3)
    assert torch.equal(offsets[13], torch.zeros(3, dtype=torch.float64))
    expected = {
        (0.25 * i, 0.25 * j, 0.25 * k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
    }
    assert {tuple(row.tolist()) for row in offsets} == expected
    assert offsets[1].tolist() == [-0.25, -0.25, 0.0]  # p = (i * 3 + j) * 3 + k, k along z
    assert offsets[3].tolist() == [-0.25, 0.0, -0.25]
    assert offsets[9].tolist() == [0.0, -0.25, -0.25]
    assert patch_offsets(1).tolist() == [[0.0, 0.0, 0.0]]
    for bad in (0, 2, 4):
        with pytest.raises(ValueError):
            patch_offsets(bad)


@pytest.mark.parametrize("size", [3, 5])
def test_patch_points_layout(size: int) -> None:
    spacing = 0.1
    centers = torch.randn(2, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    points = patch_points(centers, size=size, spacing=spacing)
    p = size**3
    assert points.shape == (2, 3, 7 * p)
    patches = points.reshape(2, 3, 7, p)
    torch.testing.assert_close(patches[..., (p - 1) // 2], centers, rtol=0, atol=0)
    half = (size - 1) / 2 * spacing
    torch.testing.assert_close(patches.amin(-1), centers - half, rtol=0, atol=1e-12)
    torch.testing.assert_close(patches.amax(-1), centers + half, rtol=0, atol=1e-12)
    # Point n * P + p is centre n plus offset p.
    offsets = patch_offsets(size, spacing, dtype=torch.float64)
    n, q = 4, 7
    torch.testing.assert_close(points[1, :, n * p + q], centers[1, :, n] + offsets[q])


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError):
        patch_ssim(torch.rand(1, 3, 26), torch.rand(1, 3, 26))
    with pytest.raises(ValueError):
        patch_ssim(torch.rand(1, 3, 27), torch.rand(1, 3, 54))
    with pytest.raises(ValueError):
        patch_ssim(torch.rand(1, 3, 27), torch.rand(1, 3, 27), stats="global")
    with pytest.raises(ValueError):
        patch_points(torch.rand(1, 2, 5))
