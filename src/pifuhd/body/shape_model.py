"""Anny's rest geometry as a function of its phenotype values, cheap and differentiable.

Anny's phenotype -> mesh map is far from linear in age: a single linearisation about the
middle shape (age 0.5) puts the body of an adult of age 0.8 (about 60 years) 6-13 cm
(mean over vertices) from Anny's own mesh, 16 cm too tall. The model here is linear in the
other five values but conditioned on age: at each of ``AGE_NODES`` ages it stores the
geometry at the middle of the other values and its derivatives by them (central differences,
step ``SHAPE_STEP``), and it interpolates linearly between neighbouring ages. On 30 synthetic
adults (``make_person`` seeds 1000-1029) its mean vertex error is 0.6 cm (1.5 cm at most); the
single linearisation's was 3.6 cm (13 cm at most) on the first 20 of them.

Geometry is :class:`pifuhd.body.kinematics.RestShape`'s ``points`` / ``heads``, kept sparse:
only the (vertex, rotating bone) pairs with a skinning weight (about 9 % of them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

SHAPE_CENTRE = 0.5
SHAPE_STEP = 0.1
AGE_KEY = "age"
AGE_NODES = 9
"""Ages sampled, evenly over [0, 1]."""


def build_arrays(
    exact: Callable[[dict[str, float]], object], keys: tuple[str, ...], mass: np.ndarray
) -> dict[str, np.ndarray]:
    """The model's float32 arrays from ``exact(shape) -> RestShape`` (``AGE_NODES`` x
    (1 + 2 x 5) Anny evaluations).

    Args:
        exact: Anny's geometry at a shape (phenotype name -> value); keys: the phenotype names,
            ``AGE_KEY`` among them; mass: (V, B) merged skinning weights (shape-independent).
    Returns:
        ``pairs`` (N,) int64 flat indices ``v * B + b`` of the weighted pairs; ``points``
        (A, N, 3) and ``d_points`` (A, K, N, 3); ``heads`` (A, B, 3) and ``d_heads``
        (A, K, B, 3), K = len(keys) - 1 (every key but age, in ``keys`` order).
    """
    pairs = np.flatnonzero(mass.reshape(-1) > 0)
    others = [k for k in keys if k != AGE_KEY]
    points, d_points, heads, d_heads = [], [], [], []

    def sparse(rest) -> np.ndarray:
        return rest.points.reshape(-1, 3)[pairs]

    for age in np.linspace(0.0, 1.0, AGE_NODES):
        centre = {k: SHAPE_CENTRE for k in keys} | {AGE_KEY: float(age)}
        base = exact(centre)
        points.append(sparse(base))
        heads.append(base.heads)
        dp, dh = [], []
        for key in others:
            hi = exact({**centre, key: SHAPE_CENTRE + SHAPE_STEP})
            lo = exact({**centre, key: SHAPE_CENTRE - SHAPE_STEP})
            dp.append((sparse(hi) - sparse(lo)) / (2 * SHAPE_STEP))
            dh.append((hi.heads - lo.heads) / (2 * SHAPE_STEP))
        d_points.append(np.stack(dp))
        d_heads.append(np.stack(dh))
    arrays = {
        "points": np.stack(points),
        "d_points": np.stack(d_points),
        "heads": np.stack(heads),
        "d_heads": np.stack(d_heads),
    }
    out = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    out["pairs"] = pairs.astype(np.int64)
    return out


def age_weights(age: torch.Tensor, nodes: int = AGE_NODES) -> tuple[int, torch.Tensor]:
    """The lower of the two age nodes around ``age`` (a 0-d tensor in [0, 1]) and the weight of
    the upper one (differentiable in ``age``)."""
    x = age.clamp(0.0, 1.0) * (nodes - 1)
    lower = min(int(x.detach()), nodes - 2)
    return lower, x - lower


class ShapeModel:
    """Rest geometry of (a subset of) the body's vertices for a shape (module docstring).

    Attributes:
        keys: phenotype names, in the order a shape tensor lists them; age: the index of
            ``AGE_KEY`` among them; vertices, bones: V and B of the dense geometry.
    """

    def __init__(self, arrays: dict[str, np.ndarray], mass: np.ndarray, keys: tuple[str, ...]):
        self.keys = keys
        self.age = keys.index(AGE_KEY)
        self.others = [i for i, k in enumerate(keys) if k != AGE_KEY]
        self.vertices, self.bones = mass.shape
        self.mass = torch.from_numpy(np.ascontiguousarray(mass, dtype=np.float32))
        self.pairs = torch.from_numpy(arrays["pairs"])
        self.points = torch.from_numpy(arrays["points"])
        self.d_points = torch.from_numpy(arrays["d_points"])
        self.heads = torch.from_numpy(arrays["heads"])
        self.d_heads = torch.from_numpy(arrays["d_heads"])

    def subset(self, index: torch.Tensor) -> ShapeModel:
        """The model of the vertices ``index`` (N,), in that order (repeats allowed)."""
        flat = self.pairs.numpy()  # sorted: each vertex's pairs are contiguous
        vertex, bone = flat // self.bones, flat % self.bones
        counts = np.bincount(vertex, minlength=self.vertices)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        idx = index.numpy()
        reps = counts[idx]
        first = np.repeat(np.cumsum(reps) - reps, reps)
        keep = np.repeat(starts[idx], reps) + np.arange(reps.sum()) - first
        position = np.repeat(np.arange(len(idx)), reps)
        sub = ShapeModel.__new__(ShapeModel)
        sub.keys, sub.age, sub.others = self.keys, self.age, self.others
        sub.vertices, sub.bones = len(idx), self.bones
        sub.mass = self.mass[index]
        sub.pairs = torch.from_numpy(position * self.bones + bone[keep])
        sub.points = self.points[:, keep].contiguous()
        sub.d_points = self.d_points[:, :, keep].contiguous()
        sub.heads, sub.d_heads = self.heads, self.d_heads
        return sub

    def regressed(self, weights: np.ndarray) -> ShapeModel:
        """The model of R virtual vertices ``weights @ vertices`` for (R, V) ``weights`` over
        this model's vertices (a linear keypoint regressor). Linear blend skinning is linear in
        the rest points and the mass, so the regressed point of a posed body is the posed
        regressed point: a regressor's S support vertices pose as R points (every pair kept)."""
        w = np.asarray(weights, dtype=np.float64)
        r, b = len(w), self.bones
        pairs = self.pairs.numpy()

        def regress(values: np.ndarray) -> np.ndarray:  # (..., N, 3) sparse -> (..., R * B, 3)
            lead = values.shape[:-2]
            flat = values.reshape(-1, len(pairs), 3).astype(np.float64)
            out = np.empty((len(flat), r * b, 3))
            for i, v in enumerate(flat):
                dense = np.zeros((self.vertices * b, 3))
                dense[pairs] = v
                out[i] = (w @ dense.reshape(self.vertices, b * 3)).reshape(r * b, 3)
            return out.reshape(*lead, r * b, 3).astype(np.float32)

        sub = ShapeModel.__new__(ShapeModel)
        sub.keys, sub.age, sub.others = self.keys, self.age, self.others
        sub.vertices, sub.bones = r, b
        sub.mass = torch.from_numpy((w @ self.mass.numpy().astype(np.float64)).astype(np.float32))
        sub.pairs = torch.arange(r * b)
        sub.points = torch.from_numpy(regress(self.points.numpy()))
        sub.d_points = torch.from_numpy(regress(self.d_points.numpy()))
        sub.heads, sub.d_heads = self.heads, self.d_heads
        return sub

    def stacked(self, other: ShapeModel) -> ShapeModel:
        """One model of this model's vertices followed by ``other``'s (same body and bones)."""
        out = ShapeModel.__new__(ShapeModel)
        out.keys, out.age, out.others = self.keys, self.age, self.others
        out.vertices, out.bones = self.vertices + other.vertices, self.bones
        out.mass = torch.cat([self.mass, other.mass])
        out.pairs = torch.cat([self.pairs, other.pairs + self.vertices * self.bones])
        out.points = torch.cat([self.points, other.points], 1)
        out.d_points = torch.cat([self.d_points, other.d_points], 2)
        out.heads, out.d_heads = self.heads, self.d_heads
        return out

    def geometry(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(V, B, 3) points, (V, B) mass and (B, 3) heads (float32, metres, subject axes) for
        ``shape`` (K+1,) phenotype values in ``keys`` order; differentiable in ``shape``."""
        lower, upper_w = age_weights(shape[self.age])
        ds = shape[self.others] - SHAPE_CENTRE
        blend = []
        for node, w in ((lower, 1.0 - upper_w), (lower + 1, upper_w)):
            pts = self.points[node] + torch.einsum("k,knc->nc", ds, self.d_points[node])
            hds = self.heads[node] + torch.einsum("k,kbc->bc", ds, self.d_heads[node])
            blend.append((w * pts, w * hds))
        values = blend[0][0] + blend[1][0]
        heads = blend[0][1] + blend[1][1]
        dense = torch.zeros(self.vertices * self.bones, 3, dtype=values.dtype)
        dense = dense.index_add(0, self.pairs, values)
        return dense.reshape(self.vertices, self.bones, 3), self.mass, heads
