"""A learned depth for MediaPipe's landmarks: how far in front of or behind the hips each one is.

MediaPipe's world landmarks carry depth, but on rendered people with known truth their
forearm order (wrist in front of or behind the elbow, where the two differ by more than 5 cm)
was right in 67 % of views. A small MLP, trained on MediaPipe's outputs for renders of
synthetic people whose true landmarks are known (``tools/lift_data.py``,
``tools/train_lift.py``), reads the 2D landmarks, the world landmarks and the visibilities
and gives each mapped landmark's depth relative to the hips; the fitter's 3D direction term
then matches directions built from the 2D landmarks and these depths (the idea of lifting 2D
poses to 3D, Martinez et al., ICCV 2017, here correcting a detector's own 3D guess).

Units: depths in the 2D torso length (shoulder midpoint to hip midpoint in the cube), z toward
the viewer. Features (:func:`features`): 2D landmarks relative to the hip midpoint over the 2D
torso length (66), world landmarks relative to their hip midpoint over their torso length
(99), visibilities (33).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from pifuhd.body.fit_terms import LANDMARK_KEYPOINTS

WEIGHTS = Path(__file__).with_name("weights") / "lift.safetensors"
MAPPED = tuple(sorted(LANDMARK_KEYPOINTS))
"""The MediaPipe landmarks the net gives depths for (those the fitter maps to Anny)."""
HIDDEN = 256
FEATURES = 33 * 2 + 33 * 3 + 33


def torso_scale(points: np.ndarray) -> np.ndarray:
    """(N,) distance from the hip midpoint to the shoulder midpoint of (N, 33, D) landmarks."""
    hips = (points[:, 23] + points[:, 24]) / 2.0
    shoulders = (points[:, 11] + points[:, 12]) / 2.0
    return np.linalg.norm(shoulders - hips, axis=1)


def features(keypoints: np.ndarray, world: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(N, FEATURES) float32 net inputs from (N, 33, 2) cube keypoints, (N, 33, 3) world
    landmarks (cube axes) and (N, 33) visibilities (module docstring)."""
    k = keypoints - ((keypoints[:, 23] + keypoints[:, 24]) / 2.0)[:, None]
    k = k / np.maximum(torso_scale(keypoints), 1e-6)[:, None, None]
    w = world - ((world[:, 23] + world[:, 24]) / 2.0)[:, None]
    w = w / np.maximum(torso_scale(world), 1e-6)[:, None, None]
    n = len(keypoints)
    return np.concatenate([k.reshape(n, -1), w.reshape(n, -1), visibility], 1).astype(np.float32)


def make_net() -> torch.nn.Sequential:
    """The MLP: FEATURES -> 256 -> 256 -> len(MAPPED), ReLU, dropout 0.2 while training."""
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(HIDDEN, len(MAPPED)),
    )


@lru_cache(maxsize=1)
def load_lift(path: Path = WEIGHTS) -> tuple[torch.nn.Sequential, np.ndarray, np.ndarray] | None:
    """The trained net (eval mode) and its input mean and scale, or None without a weights
    file (then the fitter uses MediaPipe's depths)."""
    if not path.is_file():
        return None
    from safetensors.torch import load_file

    state = load_file(str(path))
    mean, scale = state.pop("input_mean").numpy(), state.pop("input_scale").numpy()
    net = make_net()
    net.load_state_dict(state)
    return net.eval(), mean, scale


def lifted_depths(keypoints: np.ndarray, world: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(33,) float64 cube z of one person's landmarks relative to the hip midpoint (zero where
    unmapped) from (33, 2) keypoints, (33, 3) world, (33,) visibility; raises FileNotFoundError
    without weights."""
    loaded = load_lift()
    if loaded is None:
        raise FileNotFoundError(f"{WEIGHTS}: no lift weights; run tools/train_lift.py")
    net, mean, scale = loaded
    x = (features(keypoints[None], world[None], visibility[None]) - mean) / scale
    with torch.no_grad():
        depth = net(torch.from_numpy(x.astype(np.float32)))[0].double().numpy()
    out = np.zeros(33)
    out[list(MAPPED)] = depth * torso_scale(keypoints[None])[0]
    return out


def lifted_world(
    keypoints: np.ndarray,
    world: np.ndarray,
    visibility: np.ndarray,
    depths: np.ndarray | None = None,
) -> np.ndarray:
    """(33, 3) landmarks for the fitter's 3D terms: the 2D keypoints' x, y and the lifted depth
    (cube units, hip-centred), scaled to metres like ``world`` (its torso length over the
    keypoints'); unmapped landmarks keep MediaPipe's world position. ``depths``: the
    :func:`lifted_depths` of these inputs when already computed."""
    z = lifted_depths(keypoints, world, visibility) if depths is None else depths
    hips = (keypoints[23] + keypoints[24]) / 2.0
    xyz = np.concatenate([keypoints - hips, z[:, None]], axis=1)
    metres = torso_scale(world[None])[0] / max(torso_scale(keypoints[None])[0], 1e-6)
    out = world.copy()
    out[list(MAPPED)] = xyz[list(MAPPED)] * metres
    return out
