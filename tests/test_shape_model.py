"""The age-conditioned shape model (``pifuhd.body.shape_model``) on a made-up body whose
geometry is known in closed form, so that no Anny model is needed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pifuhd.body.shape_model import AGE_NODES, ShapeModel, age_weights, build_arrays

KEYS = ("gender", "age", "muscle")
V, B = 5, 3
MASS = np.array(
    [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.3, 0.7], [0.0, 0.0, 1.0]]
)
RNG = np.random.default_rng(0)
BASE = RNG.normal(size=(V, B, 3)) * (MASS[..., None] > 0)
HEADS = RNG.normal(size=(B, 3))


def exact(shape: dict[str, float]) -> SimpleNamespace:
    """Geometry linear in gender and muscle, quadratic in age, with a gender x age term."""
    g, a, m = (shape[k] for k in KEYS)
    factor = 1.0 + 0.3 * g + 2.0 * a * a - 0.5 * m + 0.4 * g * a
    return SimpleNamespace(points=BASE * factor, heads=HEADS * factor)


@pytest.fixture(scope="module")
def model() -> ShapeModel:
    return ShapeModel(build_arrays(exact, KEYS, MASS), MASS, KEYS)


def test_arrays_keep_only_the_weighted_pairs() -> None:
    arrays = build_arrays(exact, KEYS, MASS)
    assert arrays["pairs"].tolist() == np.flatnonzero(MASS.reshape(-1) > 0).tolist()
    assert arrays["points"].shape == (AGE_NODES, 7, 3)
    assert arrays["d_points"].shape == (AGE_NODES, 2, 7, 3)


@pytest.mark.parametrize("shape", [(0.5, 0.0, 0.5), (0.2, 0.75, 0.9), (1.0, 1.0, 0.0)])
def test_exact_at_age_nodes(model: ShapeModel, shape: tuple) -> None:
    """At an age node the model is the linear expansion of a function linear in gender and
    muscle at that age, so it is exact."""
    points, mass, heads = model.geometry(torch.tensor(shape, dtype=torch.float32))
    truth = exact(dict(zip(KEYS, shape, strict=True)))
    np.testing.assert_allclose(points.numpy(), truth.points, atol=1e-5)
    np.testing.assert_allclose(heads.numpy(), truth.heads, atol=1e-5)
    np.testing.assert_array_equal(mass.numpy(), MASS.astype(np.float32))


def test_between_age_nodes_the_error_is_the_interpolation_error(model: ShapeModel) -> None:
    """Between nodes only the age curvature is missed: 2 a^2 interpolated linearly over a
    step h = 1/8 is off by at most 2 (h/2)^2 = 1/128 of the base geometry."""
    shape = (0.4, 0.3, 0.6)
    points, _, _ = model.geometry(torch.tensor(shape, dtype=torch.float32))
    truth = exact(dict(zip(KEYS, shape, strict=True))).points
    err = np.abs(points.numpy() - truth).max() / np.abs(BASE).max()
    assert 1e-4 < err <= 1.0 / 128 + 1e-5
    # a single linearisation about age 0.5 misses the same point by far more
    centre = exact({"gender": 0.5, "age": 0.5, "muscle": 0.5}).points
    assert np.abs(centre - truth).max() / np.abs(BASE).max() > 10 * err


def test_age_gradient_is_the_segment_slope(model: ShapeModel) -> None:
    shape = torch.tensor([0.5, 0.3, 0.5], requires_grad=True)
    points, _, _ = model.geometry(shape)
    points.sum().backward()
    lo, hi = 2 / 8, 3 / 8  # the age nodes around 0.3
    slope = (2.0 * (hi**2 - lo**2) + 0.4 * 0.5 * (hi - lo)) / (hi - lo)
    assert float(shape.grad[1]) == pytest.approx(slope * BASE.sum(), rel=1e-4)
    assert age_weights(torch.tensor(1.0)) == (AGE_NODES - 2, pytest.approx(1.0))


def test_subset_matches_the_full_model(model: ShapeModel) -> None:
    index = torch.tensor([3, 0, 4, 3, 1])  # a vertex may be asked for twice
    shape = torch.tensor([0.9, 0.65, 0.1])
    full, full_mass, heads = model.geometry(shape)
    sub, sub_mass, sub_heads = model.subset(index).geometry(shape)
    np.testing.assert_array_equal(sub.numpy(), full[index].numpy())
    np.testing.assert_array_equal(sub_mass.numpy(), full_mass[index].numpy())
    np.testing.assert_array_equal(sub_heads.numpy(), heads.numpy())


def _posed(points: torch.Tensor, mass: torch.Tensor, rots: torch.Tensor, trans: torch.Tensor):
    """Linear blend skinning of (N, B, 3) points, as the fitter poses them."""
    return torch.einsum("bij,nbj->ni", rots, points) + mass @ trans


def test_regressed_points_pose_as_the_regressed_posed_points(model: ShapeModel) -> None:
    """A keypoint regressor (R, V) applied after posing equals R virtual vertices posed: the
    fitter poses 33 landmarks instead of their support vertices."""
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(2, V))
    weights[1] = [0.0, 0.25, 0.0, 0.75, 0.0]  # a point between two vertices
    rots = torch.tensor(np.stack([_rotation(a) for a in (0.3, -1.1, 2.0)]), dtype=torch.float32)
    trans = torch.tensor(rng.normal(size=(B, 3)), dtype=torch.float32)
    shape = torch.tensor([0.3, 0.55, 0.8], requires_grad=True)
    full = torch.tensor(weights, dtype=torch.float32) @ _posed(
        *model.geometry(shape)[:2], rots, trans
    )
    (grad_full,) = torch.autograd.grad(full.sum(), shape)
    virtual = _posed(*model.regressed(weights).geometry(shape)[:2], rots, trans)
    (grad_virtual,) = torch.autograd.grad(virtual.sum(), shape)
    np.testing.assert_allclose(virtual.detach().numpy(), full.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(grad_virtual.numpy(), grad_full.numpy(), rtol=1e-4, atol=1e-5)
    assert np.abs(full.detach().numpy()).max() > 0.1  # not trivially zero


def test_stacked_models_keep_each_models_vertices(model: ShapeModel) -> None:
    first, second = model.subset(torch.tensor([4, 1])), model.regressed(np.eye(V)[[2, 0, 3]])
    shape = torch.tensor([0.6, 0.9, 0.2])
    points, mass, heads = first.stacked(second).geometry(shape)
    full, full_mass, _ = model.geometry(shape)
    np.testing.assert_allclose(points.numpy(), full[[4, 1, 2, 0, 3]].numpy(), atol=1e-6)
    np.testing.assert_allclose(mass.numpy(), full_mass[[4, 1, 2, 0, 3]].numpy(), atol=1e-6)
    assert heads.shape == (B, 3)


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
