"""CAR's posed refinement network (``pifuhd.avatar.refine_sdf``) and its hypernetwork."""

from __future__ import annotations

import numpy as np
import torch
import trimesh

from pifuhd.avatar.hyper import BODY_POINTS, BodyHyperNet, adapt, body_points, meta_step
from pifuhd.avatar.refine_sdf import (
    Targets,
    fit_theta,
    geometric_theta,
    jittered,
    parameter_count,
    photo_targets,
    posed_sdf,
    project_to_zero,
    refine_terms,
    total_loss,
)

RADIUS = 0.4


def sphere_targets(radius: float = RADIUS, centre: tuple = (0.0, 0.0, 0.0)) -> Targets:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    points = torch.as_tensor(sphere.vertices, dtype=torch.float32)
    return Targets(points + torch.tensor(centre), points / radius, jittered(points))


def test_the_plain_start_is_a_sphere_and_the_weights_are_one_vector() -> None:
    theta = geometric_theta(radius=0.5)
    assert theta.shape == (parameter_count(),) == (3 * 128 + 128 + 2 * (128 * 128 + 128) + 129,)
    probe = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, -0.9, 0.0]])
    h = posed_sdf(theta, probe)
    assert h[0] < -0.3 and abs(h[1]) < 0.1 and h[2] > 0.25, h


def test_fitting_moves_the_zero_set_onto_the_targets_and_projection_lands_there() -> None:
    """From the sphere of radius 0.5, 300 steps fit ``h`` to a sphere of radius 0.4; points
    0.01 off it are projected back to within 0.006 of it (moves capped at 0.02)."""
    targets = sphere_targets()
    theta = fit_theta(geometric_theta(radius=0.5), targets, 300, batch=512)
    terms = refine_terms(theta, targets)
    assert terms["surface"] < 0.01 and terms["normal"] < 0.1, terms
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(50, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    moved = project_to_zero(theta, (RADIUS + 0.01) * direction)
    np.testing.assert_allclose(np.linalg.norm(moved, axis=1), RADIUS, atol=0.006)
    far = project_to_zero(theta, 0.6 * direction)  # 0.2 away: only the cap
    np.testing.assert_allclose(np.linalg.norm(far - 0.6 * direction, axis=1), 0.02, atol=1e-5)


def test_photo_targets_take_each_maps_normal_where_the_camera_sees() -> None:
    """A sphere seen from the front gets the front map's normal on its front half, the back
    map's on its back half (a flat front map of +z and back map of -z here)."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=RADIUS)
    front = np.zeros((32, 32, 3), np.float32)
    front[..., 2] = 1.0
    targets = photo_targets(sphere.vertices, sphere.faces, front, -front)
    z = sphere.vertices[:, 2]
    seen = targets.normals.norm(dim=1).numpy() > 0.5
    assert seen[z > 0.05].all() and seen[z < -0.05].all()
    np.testing.assert_allclose(targets.normals[torch.as_tensor(z > 0.05)][:, 2].numpy(), 1.0)
    np.testing.assert_allclose(targets.normals[torch.as_tensor(z < -0.05)][:, 2].numpy(), -1.0)


def test_an_untrained_hypernetwork_gives_the_plain_start_and_meta_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    body = trimesh.creation.capsule(height=1.2, radius=0.2, count=[24, 24])
    points = body_points(np.asarray(body.vertices), np.asarray(body.faces))
    assert points.shape == (min(BODY_POINTS, len(body.vertices)), 6)
    hyper = BodyHyperNet()
    with torch.no_grad():
        np.testing.assert_allclose(hyper(torch.as_tensor(points)), geometric_theta(), atol=0)
    targets = sphere_targets(0.25, (0.3, 0.2, 0.0))  # far from the plain start
    item = {
        "body": torch.as_tensor(points),
        "points": targets.points,
        "normals": targets.normals,
        "jitter": targets.jitter,
    }
    optim = torch.optim.Adam(hyper.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    first = None
    for _ in range(20):
        optim.zero_grad()
        before, after = meta_step(hyper, item, 512, gen)
        first = before if first is None else first
        assert after < before  # the inner steps help
        optim.step()
    with torch.no_grad():
        start = hyper(torch.as_tensor(points))
    _, loss_now = adapt(start, targets)
    assert loss_now < 0.8 * first, (first, loss_now)
    assert float(total_loss(refine_terms(start, targets)).detach()) == loss_now
