"""CAR's canonical model (``pifuhd.avatar.learned``): its inputs, their Jacobian, IGR's losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pifuhd.avatar.learned import (
    FEATURES,
    CanonicalSDF,
    PhotoEvidence,
    canonical_features,
    sdf_with_gradient,
)
from pifuhd.avatar.train_canonical import WEIGHTS, loss_terms

SCALE = 0.008
"""Cube units per cm of the test's placement (a 180 cm body spans about 1.4 cube units)."""


def blob_occupancy(points: np.ndarray) -> np.ndarray:
    """A smooth made-up photo field over the cube: an ellipsoid around the body."""
    r = np.sqrt((points[:, 0] / 0.3) ** 2 + (points[:, 1] / 0.75) ** 2 + (points[:, 2] / 0.2) ** 2)
    return (1.0 / (1.0 + np.exp(-12.0 * (1.0 - r)))).astype(np.float32)


@pytest.fixture(scope="module")
def evidence(anny_cache: None) -> PhotoEvidence:
    pytest.importorskip("anny")
    from pifuhd.body.anny import anny_body
    from pifuhd.body.poses import Pose

    body = anny_body({"gender": 0.3, "weight": 0.6}, Pose("walk"))
    fit_vertices = np.zeros((int(body.weld.max()) + 1, 3))
    fit_vertices[body.weld] = SCALE * body.vertices + np.array([0.0, -0.75, 0.0])
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    front = np.stack([xx - 0.5, 0.5 - yy, np.ones_like(xx)], -1)  # a tilt across the map
    back = front * np.array([1.0, 1.0, -1.0])
    return PhotoEvidence.of_body(body, fit_vertices, blob_occupancy, [front, back])


def test_features_read_the_photo_where_the_pose_takes_the_point(evidence: PhotoEvidence) -> None:
    """A rest-body vertex posed by the body lands on (next to: its weights blend its
    neighbours') the posed body's vertex: its occupancy feature is the photo field there, its
    body distance is about zero and its agreement gap is zero."""
    skin = evidence.rest_skin
    picks = np.arange(0, len(skin.vertices), 997)
    feats, _ = canonical_features(evidence, skin.vertices[picks])
    assert feats.shape == (len(picks), FEATURES)
    cube = evidence.placement.to_cube(skin.posed_tree.data[picks]).astype(np.float32)
    occ = np.clip(blob_occupancy(cube).astype(np.float64), 1e-6, 1 - 1e-6)
    expected = np.clip(np.log(occ / (1 - occ)), -7, 7) / 7
    np.testing.assert_allclose(feats[:, 0], expected, atol=1e-2)
    assert np.abs(feats[:, 1]).max() < 1e-6 and np.abs(feats[:, 11]).max() < 0.5 / 20
    np.testing.assert_allclose(np.linalg.norm(feats[:, 8:11], axis=1), 1.0, atol=1e-5)
    unit = (skin.vertices[picks] - evidence.box.centre) / evidence.box.half
    np.testing.assert_allclose(feats[:, 12:], unit, atol=1e-6)


def test_gradient_through_the_jacobian_matches_differences_of_the_whole_chain(
    evidence: PhotoEvidence,
) -> None:
    """``∇f`` from ``sdf_with_gradient`` equals central differences of
    ``model(features(x))`` (posing, projection, the photo field, the maps) in box units."""
    torch.manual_seed(0)
    model = CanonicalSDF(width=32, depth=2)
    with torch.no_grad():
        model.hidden[0].weight.normal_(0.0, 0.5)  # read every feature, not only the coordinate
    rng = np.random.default_rng(0)
    skin = evidence.rest_skin
    points = skin.vertices[rng.choice(len(skin.vertices), 40)] + rng.normal(0, 2.0, (40, 3))
    feats, jac = canonical_features(evidence, points, jacobian=True)
    value, grad = sdf_with_gradient(model, torch.as_tensor(feats), torch.as_tensor(jac))
    step = 0.1  # cm
    numeric = np.zeros((len(points), 3))
    for axis in range(3):
        shifts = []
        for sign in (1.0, -1.0):
            moved = points.copy()
            moved[:, axis] += sign * step
            with torch.no_grad():
                shifts.append(model(torch.as_tensor(canonical_features(evidence, moved)[0])))
        numeric[:, axis] = (shifts[0] - shifts[1]).numpy() / (2 * step) * evidence.box.half
    error = np.linalg.norm(grad.detach().numpy() - numeric, axis=1)
    # the features' forward differences (STEP_CM) against central ones of the whole chain
    # changing between the two may jump a few points
    assert np.median(error) < 0.1 * np.median(np.linalg.norm(numeric, axis=1))
    assert value.shape == (40,)


def test_igr_losses_teach_a_sphere_with_the_inside_negative() -> None:
    """With only the coordinate to go on, IGR's losses at CAR's weights turn the network into
    a signed distance of a sphere of radius 0.5: on it ~0 with a unit outward gradient, inside
    negative, outside positive (and the distance outside right to 0.1)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = CanonicalSDF(width=64, depth=3, radius=0.2)
    optim = torch.optim.Adam(model.parameters(), lr=2e-3)
    eye = torch.zeros(1, FEATURES, 3)
    eye[0, -3:, :] = torch.eye(3)
    for _ in range(300):
        normal = torch.nn.functional.normalize(torch.randn(256, 3, generator=gen), dim=1)
        near = 0.5 * normal + 0.1 * torch.randn(128, 3, generator=gen)[torch.arange(256) % 128]
        near[128:] = 2.0 * torch.rand(128, 3, generator=gen) - 1.0  # the space set
        coords = torch.cat([0.5 * normal, near])
        feats = torch.zeros(len(coords), FEATURES)
        feats[:, -3:] = coords
        batch = {
            "features": feats,
            "jacobian": eye.expand(len(coords), -1, -1),
            "normals": torch.cat([normal, torch.zeros_like(normal)]),
            "kinds": torch.cat([torch.zeros(256), torch.ones(256)]).to(torch.int8),
        }
        terms = loss_terms(model, batch)
        loss = sum(WEIGHTS[k] * v for k, v in terms.items())
        optim.zero_grad()
        loss.backward()
        optim.step()
    probe = torch.zeros(3, FEATURES)
    probe[:, -3:] = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 0.9]])
    with torch.no_grad():
        f = model(probe)
    assert abs(f[0]) < 0.03 and f[1] < -0.15 and 0.3 < f[2] < 0.5, f
    _, grad = sdf_with_gradient(model, probe[:1], eye)
    np.testing.assert_allclose(grad[0].detach().numpy(), [1.0, 0.0, 0.0], atol=0.1)


def fake_cache(run: Path, name: str, seed: int) -> None:
    """A cache file as ``build_cache`` writes it, for a sphere of radius 0.3 seen only
    through the coordinate (the other features zero)."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(600, 3))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    coords = np.concatenate([0.3 * normal, 0.3 * normal + rng.normal(0, 0.05, (600, 3))])
    features = np.zeros((1200, FEATURES), np.float32)
    features[:, -3:] = coords
    jacobian = np.zeros((1200, FEATURES, 3), np.float32)
    jacobian[:, -3:, :] = np.eye(3)
    normals = np.concatenate([normal, np.zeros_like(normal)])
    kinds = np.repeat([0, 1], 600)
    arrays = {"features": features, "jacobian": jacobian, "normals": normals, "kinds": kinds}
    with open(run / "cache" / f"{name}@0.npz", "wb") as handle:
        np.savez(handle, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})


def test_train_avatar_fits_cached_views_stops_and_resumes(tmp_path: Path) -> None:
    """``pifuhd train avatar`` on two cached views: it stops after 10 steps with a checkpoint,
    resumes to 40, and the saved model (safetensors) has learned the sphere."""
    from pifuhd.avatar.train_canonical import load_canonical_model
    from pifuhd.cli import main

    data, run = tmp_path / "data", tmp_path / "run"
    (run / "cache").mkdir(parents=True)
    for seed, name in enumerate(("ann", "ben")):
        (data / "subjects" / name).mkdir(parents=True)
        fake_cache(run, name, seed)
    args = ["train", "avatar", "--data", str(data), "--out", str(run), "--steps", "40"]
    sets = ["--set", "views=0", "--set", "views_per_subject=1", "--set", "width=64"]
    sets += ["--set", "depth=2", "--set", "lr=0.002", "--set", "points_per_view=300"]
    assert main([*args, *sets, "--stop-after", "10"]) == 0
    state = torch.load(run / "avatar_state.pt", weights_only=True)
    assert state["step"] == 10
    assert main([*args, *sets, "--resume"]) == 0
    assert torch.load(run / "avatar_state.pt", weights_only=True)["step"] == 40
    model = load_canonical_model(run)
    probe = torch.zeros(2, FEATURES)
    probe[:, -3:] = torch.tensor([[0.0, 0.05, 0.0], [0.0, 0.0, 0.6]])
    with torch.no_grad():
        f = model(probe)
    assert f[0] < -0.1 and f[1] > 0.1, f
    assert main([*args, "--set", "wings=2"]) == 1
