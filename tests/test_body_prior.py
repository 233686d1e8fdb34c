"""The fitted body as MLP input: its field, the widened model, the fast query with a body."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from pifuhd.checkpoint.calibrate import with_fine_logit_shift
from pifuhd.checkpoint.widen import with_body_inputs
from pifuhd.geometry.body_field import (
    TRUNCATION,
    VOXEL,
    body_field,
    parity_occupancy,
    sample_field,
    similarity_features,
)
from pifuhd.geometry.projection import default_calib
from pifuhd.models.fast_query import FastQuery
from pifuhd.models.pifuhd import PIFuHD
from tests.conftest import random_images, tiny_config

RADIUS = 0.3


def _sphere(centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=RADIUS)
    mesh.apply_translation(centre)
    return mesh


def test_sphere_field_is_its_signed_distance_and_normal() -> None:
    mesh = _sphere()
    field = body_field(mesh.vertices, mesh.faces)
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(2000, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = rng.uniform(0.1, RADIUS + 0.12, size=(2000, 1))
    points = direction * radius
    out = sample_field(field, torch.from_numpy(points)).numpy()
    truth = np.clip((radius[:, 0] - RADIUS) / TRUNCATION, -1.0, 1.0)
    # within a voxel of the true distance (the zero level lies between voxel centres)
    assert np.abs(out[0] - truth).max() * TRUNCATION < VOXEL
    assert np.median(np.abs(out[0] - truth)) * TRUNCATION < 0.3 * VOXEL
    near = np.abs(radius[:, 0] - RADIUS) < 0.1
    cosine = np.sum(out[1:, near].T * direction[near], axis=1) / np.linalg.norm(
        out[1:, near], axis=0
    )
    assert np.percentile(cosine, 5) > 0.97
    far = sample_field(field, torch.tensor([[0.0, 0.0, 0.9], [0.0, 0.0, 0.0]])).numpy()
    assert far[0, 0] == pytest.approx(1.0) and far[0, 1] == pytest.approx(-1.0)


def test_parity_occupancy_keeps_a_hole_empty() -> None:
    torus = trimesh.creation.torus(major_radius=0.3, minor_radius=0.08, major_sections=64)
    low = np.array([-0.5, -0.5, -0.2])
    counts = np.array([51, 51, 21])
    occ = parity_occupancy(torus.vertices, torus.faces, low, counts, 0.02)
    assert occ.shape == (21, 51, 51)
    # (D, H, W) = (z, y, x): the ring at x = 0.3, y = 0 is inside, the centre and far out not
    assert occ[10, 25, 40] and not occ[10, 25, 25] and not occ[10, 25, 50]
    inside = torus.contains(np.array([[0.3, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert inside.tolist() == [True, False]


def test_similarity_features_follow_the_augmentation() -> None:
    """Features read through a flip + scale + shift equal those of the moved body."""
    mesh = _sphere((0.2, 0.1, 0.0))
    field = body_field(mesh.vertices, mesh.faces)
    similarity = np.array([[-1.1, 0, 0, 0.05], [0, 1.1, 0, -0.03], [0, 0, 1.1, 0], [0, 0, 0, 1.0]])
    moved = mesh.copy()
    moved.apply_transform(similarity)
    reference = body_field(moved.vertices, moved.faces)
    rng = np.random.default_rng(1)
    points = moved.vertices[rng.choice(len(moved.vertices), 500)] * rng.uniform(0.8, 1.2, (500, 1))
    got = similarity_features(field, points, similarity)
    want = sample_field(reference, torch.from_numpy(points)).numpy()
    assert np.abs(got[0] - want[0]).max() * TRUNCATION < 1.5 * VOXEL
    assert np.median(np.sum(got[1:] * want[1:], axis=0)) > 0.98  # n_x mirrored with the image


def _body_model(seed: int) -> PIFuHD:
    torch.manual_seed(seed)
    return with_body_inputs(PIFuHD(tiny_config())).eval()


def test_widened_model_starts_as_the_trained_one(one_thread: None) -> None:
    torch.manual_seed(0)
    model = PIFuHD(tiny_config()).eval()
    wide = with_body_inputs(model)
    assert wide.config.coarse.body_channels == 4 and wide.config.coarse.mlp.dims[0] == 13
    features = model.encode(*random_images(0))
    points = torch.rand(1, 3, 500) * 2 - 1
    calib = default_calib(1, "cpu")
    body = torch.randn(1, 4, 500)
    with torch.no_grad():
        before = model.query_levels(features, points, calib)
        after = wide.query_levels(features, points, calib, body=body)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="already"):
        with_body_inputs(wide)


def test_fast_query_reads_the_body_as_the_plain_query(one_thread: None) -> None:
    model = _body_model(1)
    with torch.no_grad():  # make the body columns matter
        for layer in model.netG.mlp.filters:
            layer.weight[:, -4:] = torch.randn_like(layer.weight[:, -4:])
    mesh = _sphere()
    field = body_field(mesh.vertices, mesh.faces)
    features = model.encode(*random_images(1))
    features.body = lambda p: sample_field(field, p)
    # grid columns along z (rays), as the grid evaluators send them
    xs = torch.linspace(-0.5, 0.5, 6)
    grid = torch.stack(torch.meshgrid(xs, xs, torch.linspace(-0.6, 0.6, 20), indexing="ij"), -1)
    points = grid.reshape(-1, 3)
    calib = default_calib(1, "cpu")
    with torch.no_grad():
        plain = model.query(features, points.T[None], calib)[0, 0]
        fast = FastQuery(model, features, calib)(points)
        no_body = model.query_levels(features, points.T[None], calib, body=torch.zeros(1, 4, 720))
    torch.testing.assert_close(fast, plain, atol=2e-6, rtol=0)
    assert (plain - no_body[1][0, 0]).abs().max() > 1e-3  # the body changes the occupancy


def test_body_preset_and_old_configs() -> None:
    from pifuhd.config import PIFuHDConfig, preset

    body = preset("body")
    assert body.coarse.body_channels == 4 and body.coarse.mlp.dims[0] == 69
    assert PIFuHDConfig.from_json(body.to_json()) == body
    old = preset("small").to_dict()
    del old["coarse"]["body_channels"]  # configs written before body inputs existed
    assert PIFuHDConfig.from_dict(old).coarse.body_channels == 0
    wrong = body.to_dict()
    wrong["coarse"]["body_channels"] = 0
    with pytest.raises(ValueError, match="body_channels"):
        PIFuHDConfig.from_dict(wrong)


def test_fine_logit_shift_moves_only_the_fine_occupancy(one_thread: None) -> None:
    torch.manual_seed(0)
    model = PIFuHD(tiny_config()).eval()
    shifted = with_fine_logit_shift(model, -0.8)
    features = model.encode(*random_images(2))
    points = torch.rand(1, 3, 400) * 2 - 1
    calib = default_calib(1, "cpu")
    with torch.no_grad():
        coarse, fine = model.query_levels(features, points, calib)
        coarse2, fine2 = shifted.query_levels(features, points, calib)
    torch.testing.assert_close(coarse2, coarse, atol=0, rtol=0)
    logit = torch.logit(fine.double().clamp(1e-6, 1 - 1e-6))
    logit2 = torch.logit(fine2.double().clamp(1e-6, 1 - 1e-6))
    torch.testing.assert_close(logit2 - logit, torch.full_like(logit, -0.8), atol=1e-4, rtol=0)
    assert (fine2 < fine).all()
    assert model.mlp.filters[-1].bias.item() != shifted.mlp.filters[-1].bias.item()
