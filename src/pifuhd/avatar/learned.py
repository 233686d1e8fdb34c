"""CAR's canonical implicit model: a signed distance in the fitted body's rest pose.

Liao et al., CVPR 2023, Sec. 3.1: per canonical point ``x_c`` the network reads pixel-aligned
evidence taken where the point lands once posed by the fitted body's skinning, the canonical
normal (the predicted image normal taken back through the inverse skinning rotation) and the
canonical coordinate, and outputs a signed distance ``f(x_c)`` (negative inside). Here the
pixel-aligned evidence is what the photo's reconstruction already computes at the posed point
(``PhotoEvidence``): the occupancy logit of PIFuHD's fine level (image and predicted normal
maps, body-guided) and the front and back predicted normals at its projection. To those the
model adds two body cues: the signed distance to the rest body along its normal, and the
"agreement gap" of ``pifuhd.avatar.canonical`` (how far apart, in the rest pose, the body parts
nearest to the point and to its posed image lie), which says when a pose maps empty canonical
space onto another part of the person.

``canonical_features`` gives the (N, 15) inputs and, by forward differences of ``STEP_CM``, their
(N, 15, 3) Jacobian with respect to the canonical point (zero for the piecewise constant gap),
so that ``∇f`` (IGR's normal and Eikonal terms, ``pifuhd.avatar.train_canonical``) follows the
whole chain: posing, projection and the photo's field, not only the coordinate input.

Frames: canonical points in cm (the rest body's frame, ``pifuhd.body.skinned``); the network's
coordinate input and its distance in units of the canonical box's half side
(``CanonicalBox``, about a metre).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import trimesh
from torch import nn

from pifuhd.avatar.canonical import REACH_CM, CanonicalBox, RestSkin, bind_canonical, mesh_query
from pifuhd.avatar.rigging import CubePlacement, RiggedMesh, cube_placement
from pifuhd.geometry.normal_refine import sample_map

FEATURES = 15
"""Inputs per point: occupancy logit, agreement gap, front normal (3), back normal (3),
canonical normal (3), body signed distance, canonical coordinate (3, the last three)."""
STEP_CM = 0.2
"""Forward-difference step of the features' Jacobian."""
LOGIT_CLIP = 7.0
"""The occupancy logit is clipped to +-this and divided by it."""
CUE_SCALE_CM = 20.0
"""The gap and the body distance are divided by this and clipped to +-2."""
JACOBIAN_CLIP = 0.5
"""Per cm: larger feature slopes (a nearest body vertex changing) are clipped."""


@dataclass(frozen=True)
class PhotoEvidence:
    """What one photo's reconstruction says about canonical points (module docstring).

    Attributes:
        occupancy: cube points (N, 3) float32 -> (N,) occupancy in [0, 1].
        normal_front, normal_back: (H, W, 3) predicted normal maps over the crop.
        rest_skin: the fitted body's skinning in the rest pose. rest_normals: (V, 3) its unit
            vertex normals (``rest_skin.vertices`` order). transforms: (J, 4, 4) the fitted
            pose. placement: subject cm -> cube. box: the canonical grid's cube.
    """

    occupancy: Callable[[np.ndarray], np.ndarray]
    normal_front: torch.Tensor
    normal_back: torch.Tensor
    rest_skin: RestSkin
    rest_normals: np.ndarray
    transforms: np.ndarray
    placement: CubePlacement
    box: CanonicalBox

    @classmethod
    def of(cls, result: Any) -> PhotoEvidence:
        """From a reconstruction made with ``Reconstructor.fit_body`` set."""
        from pifuhd.body.anny import anny_body

        fit = result.body_fit
        body = anny_body(fit.shape, fit.anny_pose_deltas)
        return cls.of_body(body, fit.vertices, result.occupancy, result.normals)

    @classmethod
    def of_body(
        cls, body: Any, fit_vertices: np.ndarray, occupancy: Callable, maps: list[np.ndarray]
    ) -> PhotoEvidence:
        """From Anny's posing of a fit (``anny_body``), the fit's cube vertices, the photo's
        occupancy and its two (H, W, 3) normal maps."""
        skin = RestSkin.of(body)
        return cls(
            occupancy,
            torch.as_tensor(np.asarray(maps[0], np.float32)),
            torch.as_tensor(np.asarray(maps[1], np.float32)),
            skin,
            welded_normals(body),
            np.asarray(body.transforms, np.float64),
            cube_placement(body, fit_vertices),
            CanonicalBox.around(skin.vertices),
        )


def welded_normals(body: Any) -> np.ndarray:
    """(V, 3) unit rest-pose vertex normals of the body's geometric vertices (seam copies
    summed; ``RestSkin`` order)."""
    mesh = trimesh.Trimesh(body.rest_vertices, body.faces, process=False)
    count = int(body.weld.max()) + 1
    summed = np.zeros((count, 3))
    np.add.at(summed, body.weld, np.asarray(mesh.vertex_normals))
    _, first = np.unique(body.weld, return_index=True)
    summed = summed[body.weld[first]]
    return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-9)


def _features(evidence: PhotoEvidence, canonical: np.ndarray) -> np.ndarray:
    """(N, 3) canonical cm -> (N, FEATURES) float32 (module docstring)."""
    skin = evidence.rest_skin
    idx, blend_weights, _ = skin.neighbours(canonical)
    weights = skin.weights_of(idx, blend_weights)
    count = len(evidence.transforms)
    blend = np.asarray(weights @ evidence.transforms[:, :3, :].reshape(count, 12))
    blend = blend.reshape(-1, 3, 4)
    posed = np.einsum("nab,nb->na", blend[:, :, :3], canonical) + blend[:, :, 3]
    cube = evidence.placement.to_cube(posed).astype(np.float32)
    occ = np.clip(np.asarray(evidence.occupancy(cube), np.float64), 1e-6, 1 - 1e-6)
    logit = np.clip(np.log(occ / (1 - occ)), -LOGIT_CLIP, LOGIT_CLIP) / LOGIT_CLIP
    _, rest_idx = skin.tree.query(canonical)
    _, posed_idx = skin.posed_tree.query(posed)
    gap = np.linalg.norm(skin.vertices[rest_idx] - skin.vertices[posed_idx], axis=1)
    # distance along the body's normal, blended over the same vertices as the weights
    offset = canonical[:, None, :] - skin.vertices[idx]
    signed = np.einsum("nka,nka,nk->n", offset, evidence.rest_normals[idx], blend_weights)
    with torch.no_grad():
        points = torch.as_tensor(cube)
        front = sample_map(evidence.normal_front, points).numpy().astype(np.float64)
        back = sample_map(evidence.normal_back, points).numpy().astype(np.float64)
    # the inverse skinning rotation is the transpose of the blended (near-rigid) 3x3
    canon_normal = np.einsum("nba,nb->na", blend[:, :, :3], front)
    canon_normal /= np.maximum(np.linalg.norm(canon_normal, axis=1, keepdims=True), 1e-9)
    coord = (canonical - evidence.box.centre) / evidence.box.half
    cues = np.clip(np.stack([gap, signed], 1) / CUE_SCALE_CM, -2.0, 2.0)
    columns = [logit[:, None], cues[:, :1], front, back, canon_normal, cues[:, 1:], coord]
    return np.concatenate(columns, 1).astype(np.float32)


def canonical_features(
    evidence: PhotoEvidence, canonical: np.ndarray, jacobian: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's inputs at canonical points, and optionally their Jacobian.

    Args:
        evidence: the photo's. canonical: (N, 3) points, cm.
        jacobian: also return d features / d (canonical / box half), by forward differences of
            ``STEP_CM`` (slopes clipped to ``JACOBIAN_CLIP`` per cm).
    Returns:
        (N, FEATURES) float32, and (N, FEATURES, 3) float32 or None.
    """
    canonical = np.asarray(canonical, np.float64)
    base = _features(evidence, canonical)
    if not jacobian:
        return base, None
    columns = []
    for axis in range(3):
        moved = canonical.copy()
        moved[:, axis] += STEP_CM
        slope = (_features(evidence, moved) - base) / STEP_CM
        columns.append(np.clip(slope, -JACOBIAN_CLIP, JACOBIAN_CLIP))
    jac = np.stack(columns, 2) * evidence.box.half
    jac[:, -3:, :] = np.eye(3, dtype=np.float32)  # the coordinate itself
    jac[:, 1, :] = 0.0  # the gap is piecewise constant: a cue, not a slope
    return base, jac.astype(np.float32)


class CanonicalSDF(nn.Module):
    """features (N, FEATURES) -> signed distance (N,) in box units (negative inside).

    An MLP with softplus (beta 100) as IGR and CAR use, geometrically initialised (Atzmon and
    Lipman, SAL, CVPR 2020) so that at the start ``f`` is about ``|coordinate| - radius``: a
    sphere, inside negative, whatever the other inputs say.
    """

    def __init__(self, width: int = 256, depth: int = 4, radius: float = 0.3):
        super().__init__()
        sizes = [FEATURES] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.last = nn.Linear(width, 1)
        self.act = nn.Softplus(beta=100)
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0) / math.sqrt(layer.out_features))
                nn.init.zeros_(layer.bias)
                if i == 0:
                    layer.weight[:, : FEATURES - 3] = 0.0
            nn.init.normal_(self.last.weight, math.sqrt(math.pi) / math.sqrt(width), 1e-4)
            self.last.bias.fill_(-radius)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.last(x)[:, 0]


def sdf_with_gradient(
    model: CanonicalSDF, features: torch.Tensor, jacobian: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) ``f`` and (N, 3) ``∇f`` with respect to the canonical point in box units, through
    the features' (N, FEATURES, 3) Jacobian (a linearisation at each point, exact there)."""
    delta = torch.zeros(len(features), 3, dtype=features.dtype, requires_grad=True)
    moved = features + torch.einsum("nkj,nj->nk", jacobian, delta)
    value = model(moved)
    (grad,) = torch.autograd.grad(value.sum(), delta, create_graph=True)
    return value, grad


def learned_query(
    model: CanonicalSDF,
    evidence: PhotoEvidence,
    reach: float,
    sharpness: float = 200.0,
    chunk: int = 65536,
) -> Callable[[np.ndarray], np.ndarray]:
    """The canonical field as a grid query on ``evidence.box``'s unit cube: (N, 3) float32 ->
    (N,) float32 ``sigmoid(-sharpness f)``, so level 0.5 is ``f = 0``; points farther than
    ``reach`` cm from the rest body are outside."""

    def query(unit: np.ndarray) -> np.ndarray:
        canonical = evidence.box.to_canonical(unit)
        dist, _ = evidence.rest_skin.tree.query(canonical)
        out = np.zeros(len(unit), np.float32)
        near = np.flatnonzero(dist <= reach)
        for start in range(0, len(near), chunk):
            pick = near[start : start + chunk]
            feats, _ = canonical_features(evidence, canonical[pick])
            with torch.no_grad():
                f = model(torch.as_tensor(feats))
            out[pick] = torch.sigmoid(-sharpness * f).numpy()
        return out

    return query


def rig_learned(
    model: CanonicalSDF, body: Any, fit_vertices: np.ndarray, occupancy: Callable,
    maps: list[np.ndarray], resolution: int = 256,
) -> RiggedMesh:  # fmt: skip
    """The learned canonical surface (marching cubes of ``f = 0`` over the canonical box) bound
    to the fitted body and posed by it, as ``pifuhd.avatar.canonical.rig_canonical``."""
    evidence = PhotoEvidence.of_body(body, fit_vertices, occupancy, maps)
    query = learned_query(model, evidence, REACH_CM)
    rest, faces = mesh_query(query, evidence.box, resolution)
    return bind_canonical(rest, faces, body, evidence.placement)
