"""Which labelled points a training item carries: the uniform share (some of it on the camera
rays through the person), and the near-surface share balanced inside/outside (PIFu)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pifuhd.errors import InputError


@dataclass(frozen=True)
class PointConfig:
    """Which labelled points an item carries."""

    count: int = 8000
    """Points per item (the paper used 8000)."""
    surface_kinds: tuple[int, ...] = (0, 2)
    """Sample kinds (indices into the subject's ``sigmas_cm``) drawn near the surface."""
    uniform_fraction: float = 0.25
    """Share of the points drawn uniformly over the view's normalised cube."""
    balance: bool = True
    """Draw the near-surface share half inside, half outside (PIFu), when possible."""
    ray_fraction: float = 0.0
    """Share of the uniform points drawn among those whose pixel is on the person's mask.

    Uniform points fill the whole cube, so few of them lie on the camera rays through thin
    parts (feet, hands): the depth far in front of and behind those parts goes almost
    unlabelled, and the occupancy there stays near-constant along the ray. These points label
    it (their inside flags are the exact ones of ``samples.npz``)."""


def on_mask(cube: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N,) bool: cube points (N, 3) whose pixel (u = x, v = -y, nearest pixel of the (H, W)
    mask, the image spanning [-1, 1]) is on the person (mask > 0.5)."""
    h, w = mask.shape
    col = np.clip(np.floor((cube[:, 0] + 1.0) * 0.5 * w), 0, w - 1).astype(np.int64)
    row = np.clip(np.floor((1.0 - cube[:, 1]) * 0.5 * h), 0, h - 1).astype(np.int64)
    return mask[row, col] > 0.5


def choose_points(
    samples: dict[str, np.ndarray],
    region: np.ndarray,
    config: PointConfig,
    rng: np.random.Generator,
    on_person: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of ``config.count`` points: a uniform share plus a (balanced) surface share.

    Only points with ``region`` True are drawn (inside the view's cube / the fine crop).
    ``config.ray_fraction`` of the uniform share comes from the uniform points with
    ``on_person`` True (N,) bool, when given and any exist. Draws with replacement only
    when a group has fewer candidates than it needs.
    """
    kind, inside = samples["kind"], samples["inside"]
    uniform_kind = len(samples["sigmas_cm"])
    n_uniform = round(config.count * config.uniform_fraction)
    n_surface = config.count - n_uniform
    near = region & np.isin(kind, config.surface_kinds)
    uniform = np.flatnonzero(region & (kind == uniform_kind))
    if len(uniform) == 0:  # e.g. a small crop: the near-surface share takes its place
        n_surface, n_uniform = config.count, 0
    n_ray = round(n_uniform * config.ray_fraction) if on_person is not None else 0
    ray = np.flatnonzero(region & (kind == uniform_kind) & on_person) if n_ray else uniform
    if len(ray) == 0:
        n_ray = 0
    parts = [_draw(ray, n_ray, rng), _draw(uniform, n_uniform - n_ray, rng)]
    if config.balance:
        n_in = n_surface // 2
        inside_idx = np.flatnonzero(near & inside)
        outside_idx = np.flatnonzero(near & ~inside)
        if len(inside_idx) == 0 or len(outside_idx) == 0:
            parts.append(_draw(np.flatnonzero(near), n_surface, rng))
        else:
            parts += [_draw(inside_idx, n_in, rng), _draw(outside_idx, n_surface - n_in, rng)]
    else:
        parts.append(_draw(np.flatnonzero(near), n_surface, rng))
    return np.concatenate(parts)


def _draw(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(candidates) == 0:
        raise InputError("no sample points in the view's region; re-run prepare with more")
    return rng.choice(candidates, size=n, replace=len(candidates) < n)
