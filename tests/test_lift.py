"""The learned landmark depths (``pifuhd.body.lift``) on held-out synthetic views.

``tests/assets/lift_heldout.npz``: MediaPipe's observations of 61 synthetic people (seeds
560-620 of ``tools/lift_data.py --side 2``: four views around each person and two near the side
views; the shipped weights were trained on seeds 0-559 of the four-view data), their true
landmark positions, seeds and yaws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pifuhd.body.lift import MAPPED, features, lifted_depths, lifted_world, load_lift

ASSET = Path(__file__).parent / "assets" / "lift_heldout.npz"


@pytest.fixture(scope="module")
def views() -> dict[str, np.ndarray]:
    with np.load(ASSET) as data:
        return {k: data[k].astype(np.float64) for k in data.files}


def _order_right(depth: np.ndarray, truth: np.ndarray) -> list[bool]:
    right = []
    for elbow, wrist in ((13, 15), (14, 16)):
        dt = truth[:, wrist, 2] - truth[:, elbow, 2]
        clear = np.abs(dt) * 100.0 > 5.0
        right += list((np.sign(depth[:, wrist] - depth[:, elbow]) == np.sign(dt))[clear])
    return right


def test_features_ignore_scale_and_position(views: dict[str, np.ndarray]) -> None:
    kp, world, vis = views["kp"][:3], views["world"][:3], views["vis"][:3]
    moved = features(kp * 0.5 + 0.2, world * 3.0 - 1.0, vis)
    np.testing.assert_allclose(moved, features(kp, world, vis), atol=1e-5)


def test_net_orders_forearms_better_than_mediapipe(views: dict[str, np.ndarray]) -> None:
    assert load_lift() is not None, "the package ships the lift weights"
    triples = zip(views["kp"], views["world"], views["vis"], strict=True)
    depth = np.stack([lifted_depths(k, w, v) for k, w, v in triples])
    net = _order_right(depth, views["true"])
    mediapipe = _order_right(views["world"][..., 2], views["true"])
    assert len(net) >= 400
    assert np.mean(net) >= 0.9 and np.mean(net) > np.mean(mediapipe) + 0.2
    side = np.abs(views["yaw"] % 180.0 - 90.0) <= 30.0  # one forearm often behind the body
    assert np.mean(_order_right(depth[side], views["true"][side])) >= 0.85
    hips = (views["true"][:, 23, 2] + views["true"][:, 24, 2]) / 2.0
    error = np.abs(depth[:, list(MAPPED)] - (views["true"][:, list(MAPPED), 2] - hips[:, None]))
    assert np.median(error) * 100.0 < 8.0  # cm (cube units x 100)


def test_lifted_world_keeps_unmapped_landmarks(views: dict[str, np.ndarray]) -> None:
    kp, world, vis = views["kp"][0], views["world"][0], views["vis"][0]
    out = lifted_world(kp, world, vis)
    np.testing.assert_array_equal(out, lifted_world(kp, world, vis, lifted_depths(kp, world, vis)))
    unmapped = [i for i in range(33) if i not in MAPPED]
    np.testing.assert_array_equal(out[unmapped], world[unmapped])
    hips = (kp[23] + kp[24]) / 2.0
    metres = np.linalg.norm(world[11] + world[12] - world[23] - world[24]) / np.linalg.norm(
        kp[11] + kp[12] - kp[23] - kp[24]
    )
    np.testing.assert_allclose(out[15, :2], (kp[15] - hips) * metres, rtol=1e-6)
