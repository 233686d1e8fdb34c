"""Fitting the Anny body to one person's MediaPipe landmarks and mask (SMPLify-style stages).

Unknowns: Anny's six phenotype values (shape), a rotation vector per generic bone
(``GENERIC_BONES``), the body's rotation, and the orthographic camera of the crop's cube (a
scale in cube units per metre and an x, y offset). Terms (Bogo et al., "Keep it SMPL", ECCV
2016, for the staging, the robust 2D term and the priors):

- 2D landmarks: Geman-McClure on the distance between each MediaPipe image landmark and the
  projection of the matching Anny keypoint (Anny's COCO-style keypoint regressor; MediaPipe's
  hips and shoulders are mapped through it, see ``LANDMARK_KEYPOINTS``), weighted by visibility.
- 3D directions: the cosine between the body's limb and torso directions and those of
  MediaPipe's world landmarks: this is what tells a forearm in front of the body from one
  behind it, which the 2D term cannot.
- Lifted depths: Geman-McClure on each landmark's depth relative to the hips against the
  learned depths of ``pifuhd.body.lift`` (when installed): directions alone let a limb tilt
  out of the image plane at little cost whenever its 2D length is a few cm off.
- Silhouette (no rasteriser): the mask's signed distance to its edge sampled at projected body
  points, counted from a little inside the edge (the body stays inside the person, under
  clothes that lie over it; further inside in side views), and a weak coverage term
  (mask points far from every projected body point; it saturates late in stage 3). In side
  views the body's lowest point is pulled down to the mask's lowest row (``floor_term``);
  where the mask rises high above the head, its highest point up to the mask's top row
  (``ceiling_term``: a raised hand).
- Priors: knees and elbows as hinges that do not over-extend, upper limbs twisting no further
  than a shoulder turns, small torso and head rotations, phenotype values near the
  population's middle.

Stages: (1) rotation, camera and torso on the torso landmarks; (2) every bone; (3) shape and
silhouette. Each is Adam on the body of :class:`pifuhd.body.kinematics.BodyKinematics`.
The returned mesh is Anny's exact mesh at the fitted values.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from pifuhd.body.anny import JOINT_BONES, SHAPE_KEYS
from pifuhd.body.arms import SIDE_FACING, arm_depths, load_arms
from pifuhd.body.facing import torso_facing
from pifuhd.body.fit_settings import FitSettings
from pifuhd.body.fit_terms import (
    LANDMARK_KEYPOINTS,
    LIMB_SEGMENTS,
    TORSO_LANDMARKS,
    FitBody,
    depth_term,
    direction_term,
    geman_mcclure,
    leg_lean_term,
    pose_prior,
    standing_legs,
    torso_lean_term,
)
from pifuhd.body.kinematics import rotvec_matrix
from pifuhd.body.lift import lifted_depths, lifted_world, load_lift
from pifuhd.body.mask_terms import (
    ceiling_level,
    ceiling_term,
    coverage_term,
    edge_distance,
    floor_level,
    floor_term,
)
from pifuhd.body.observations import BodyFit, FitObservations, area_weighted_centroid
from pifuhd.body.poses import GENERIC_BONES

log = logging.getLogger(__name__)

STAGE1_SIGMA_FACTOR = 5.0

LOG_SCALE_RANGE = (float(np.log(0.1)), float(np.log(10.0)))
"""Cube units per metre: a person 20 cm to 20 m tall in the crop; outside, a fit diverged."""
_BODIES: dict[int, FitBody] = {}


def fit_body_model(model) -> FitBody:
    """The fitting body for an Anny model, built once per process."""
    key = id(model)
    if key not in _BODIES:
        _BODIES[key] = FitBody(model)
    return _BODIES[key]


def _weights(obs: FitObservations, settings: FitSettings) -> torch.Tensor:
    vis = np.maximum(np.nan_to_num(obs.visibility), settings.min_weight)
    mapped = np.isin(np.arange(len(vis)), list(LANDMARK_KEYPOINTS))
    return torch.tensor(vis * mapped, dtype=torch.float32)


def _initial_rotation(body: FitBody, obs: FitObservations, vis: np.ndarray) -> np.ndarray:
    """(3,) body rotation aligning the reference body's torso landmarks to MediaPipe's world
    torso (Kabsch); facing the camera when the world torso is not visible."""
    ids = [i for i in TORSO_LANDMARKS if vis[i] > 0]
    if len(ids) < 3:
        return np.zeros(3)
    model_kp = body.reference_landmarks()[ids]
    world = obs.world[ids]
    rot, _ = Rotation.align_vectors(world - world.mean(0), model_kp - model_kp.mean(0))
    if rot.apply([0.0, 1.0, 0.0])[1] >= 0.5:
        return rot.as_rotvec()
    # tipped over (a half-visible person's world landmarks): keep only the turn about y
    forward = rot.apply([0.0, 0.0, 1.0])
    return np.array([0.0, np.arctan2(forward[0], forward[2]), 0.0])


def _initial_camera(
    kp: np.ndarray, obs: FitObservations, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Least-squares scale and (x, y) offset projecting (33, 3) body landmarks onto the
    observed ones (weights ``w``)."""
    w = w / max(w.sum(), 1e-9)
    k, o = kp[:, :2], obs.keypoints
    kc, oc = (w[:, None] * k).sum(0), (w[:, None] * o).sum(0)
    num = (w[:, None] * (k - kc) * (o - oc)).sum()
    den = (w[:, None] * (k - kc) ** 2).sum()
    scale = float(num / max(den, 1e-9))
    if not np.isfinite(scale) or scale <= 0.1:
        scale = 1.0
    return scale, oc - scale * kc


class _Params:
    """The unknowns as leaf tensors."""

    def __init__(self, root: np.ndarray, scale: float, offset: np.ndarray) -> None:
        f32 = torch.float32
        self.shape = torch.full((len(SHAPE_KEYS),), 0.5, dtype=f32, requires_grad=True)
        self.root = torch.tensor(root, dtype=f32, requires_grad=True)
        self.pose = torch.zeros((len(GENERIC_BONES), 3), dtype=f32, requires_grad=True)
        self.log_scale = torch.tensor(np.log(scale), dtype=f32, requires_grad=True)
        self.offset = torch.tensor(offset, dtype=f32, requires_grad=True)


def _swing_limbs(body: FitBody, p: _Params, obs: FitObservations, vis: np.ndarray) -> None:
    """Turn each upper and lower limb so that its direction matches MediaPipe's world
    landmarks (parents first): a starting pose on the right side of the body in depth."""
    with torch.no_grad():
        for bone, (a, b) in LIMB_SEGMENTS:
            if vis[a] <= 0 or vis[b] <= 0:
                continue
            state = body.evaluate(p.shape, p.root, p.pose)
            kp = state.landmarks.numpy()
            current, target = kp[b] - kp[a], obs.world[b] - obs.world[a]
            if np.linalg.norm(current) < 1e-6 or np.linalg.norm(target) < 1e-6:
                continue
            swing, _ = Rotation.align_vectors(target[None], current[None])
            parent_rot = state.parent_rotation(bone).numpy()
            g = GENERIC_BONES.index(bone)
            local = Rotation.from_rotvec(p.pose[g].numpy().astype(np.float64)).as_matrix()
            new = parent_rot.T @ swing.as_matrix() @ parent_rot @ local
            p.pose[g] = torch.tensor(Rotation.from_matrix(new).as_rotvec(), dtype=torch.float32)


def _losses(
    body: FitBody,
    p: _Params,
    obs: FitObservations,
    w: torch.Tensor,
    settings: FitSettings,
    stage: int,
    silhouette: dict | None,
    rest: tuple | None = None,
    depth: torch.Tensor | None = None,
    saturate: float = 0.0,
) -> dict[str, torch.Tensor]:
    state = body.evaluate(p.shape, p.root, p.pose, rest)
    scale = torch.exp(p.log_scale)
    projected = scale * state.landmarks[:, :2] + p.offset
    target = torch.tensor(obs.keypoints, dtype=torch.float32)
    world = torch.tensor(obs.world, dtype=torch.float32)
    ww = w.clone()
    if stage == 1:
        keep = torch.zeros_like(ww)
        keep[list(TORSO_LANDMARKS)] = 1.0
        ww = ww * keep
    dist = torch.linalg.norm(projected - target, dim=1)
    # stage 1 starts from a rough camera: a wide scale keeps far landmarks pulling
    sigma = settings.sigma * (STAGE1_SIGMA_FACTOR if stage == 1 else 1.0)
    terms = {
        "landmarks": (ww * geman_mcclure(dist, sigma)).sum() / ww.sum().clamp(min=1e-6),
        "direction": settings.w_direction
        * direction_term(state.landmarks, world, (w > 0).float(), stage),
    }
    if depth is not None and settings.w_depth > 0.0:
        terms["depth"] = settings.w_depth * depth_term(
            state.landmarks, scale, depth, ww, settings.sigma_depth
        )
    up = rotvec_matrix(p.root)[:, 1]
    terms["upright"] = settings.w_upright * (up[2] ** 2 + 10.0 * torch.relu(0.5 - up[1]) ** 2)
    if stage >= 2:
        terms["pose_prior"] = settings.w_pose * pose_prior(
            body, p.pose, settings.twist_free, settings.w_twist
        )
        if settings.w_legs > 0.0:
            standing = torch.tensor(standing_legs(obs.keypoints, w.numpy()), dtype=torch.float32)
            terms["legs"] = settings.w_legs * leg_lean_term(state.landmarks, standing)
        if settings.w_torso > 0.0:
            terms["torso"] = settings.w_torso * torso_lean_term(state.landmarks)
    if stage >= 3:
        terms["shape_prior"] = settings.w_shape * ((p.shape - 0.5) ** 2).sum()
        if silhouette is not None:
            pts = scale * state.surface[:, :2] + p.offset
            inside, cover = coverage_term(pts, silhouette, saturate=saturate)
            w_inside = settings.w_inside_side if silhouette["side"] else settings.w_inside
            terms["silhouette_inside"] = w_inside * inside
            terms["silhouette_coverage"] = settings.w_coverage * cover
            if silhouette["floor"] is not None and settings.w_floor > 0.0:
                terms["floor"] = settings.w_floor * floor_term(pts[:, 1], silhouette["floor"])
            if silhouette["ceiling"] is not None and settings.w_ceiling > 0.0:
                terms["ceiling"] = settings.w_ceiling * ceiling_term(
                    pts[:, 1], silhouette["ceiling"]
                )
    return terms


def _silhouette(obs: FitObservations, settings: FitSettings) -> dict | None:
    """The mask's signed distance to its edge (cube units; ``mask_terms.edge_distance``) plus
    ``FitSettings.inside_edge`` (``inside_edge_side`` in side views), whose positive part the
    inside term reads (the crop beyond the photo counts as inside: a person cut by the border
    goes on there), points on the mask, and in side views
    the height the soles should reach (``mask_terms.floor_level``; else None); ``side``: whether
    MediaPipe's torso is seen from the side (``arms.SIDE_FACING``)."""
    if obs.mask is None or not obs.mask.any():
        return None
    m = obs.mask.shape[0]
    allowed = obs.mask if obs.known is None else obs.mask | ~obs.known
    side = abs(torso_facing(obs.world)) <= SIDE_FACING
    within = settings.inside_edge_side if side else settings.inside_edge
    outside = edge_distance(allowed) * (2.0 / m) + within
    rows, cols = np.nonzero(obs.mask)
    stride = max(1, len(rows) // 600)
    pts = np.stack(
        [-1.0 + (cols[::stride] + 0.5) * 2.0 / m, 1.0 - (rows[::stride] + 0.5) * 2.0 / m], 1
    )
    return {
        "outside": torch.tensor(outside, dtype=torch.float32)[None, None],
        "points": torch.tensor(pts, dtype=torch.float32),
        "side": side,
        "floor": floor_level(obs.mask, obs.known) if side else None,
        "ceiling": ceiling_level(obs.keypoints, obs.mask, obs.known),
    }


def fit_observations(obs: FitObservations, model, settings: FitSettings | None = None) -> BodyFit:
    """Fit Anny to one person's observations (module docstring); the result is in the cube.
    Runs on ``settings.threads`` torch threads (the process's count is restored after)."""
    settings = settings or FitSettings()
    previous = torch.get_num_threads()
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    try:
        return _fit(obs, model, settings)
    finally:
        torch.set_num_threads(previous)


def _fit(obs: FitObservations, model, settings: FitSettings) -> BodyFit:
    body = fit_body_model(model)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    depth = None
    if settings.lift and load_lift() is not None:
        if settings.arms and obs.arm_crop is not None and load_arms() is not None:
            z = arm_depths(obs.keypoints, obs.world, obs.visibility, obs.arm_crop)
        else:
            z = lifted_depths(obs.keypoints, obs.world, obs.visibility)
        depth = torch.tensor(z, dtype=torch.float32)
        world = lifted_world(obs.keypoints, obs.world, obs.visibility, z)
        obs = dataclasses.replace(obs, world=world)
    w = _weights(obs, settings)
    vis = w.numpy()
    p = _Params(_initial_rotation(body, obs, vis), 1.0, np.zeros(2))
    with torch.no_grad():
        kp = body.evaluate(p.shape, p.root, p.pose).landmarks.numpy()
    scale, offset = _initial_camera(kp, obs, vis)
    p.log_scale.data.fill_(float(np.log(scale)))
    p.offset.data[:] = torch.tensor(offset, dtype=torch.float32)
    _swing_limbs(body, p, obs, vis)
    seconds["init"] = time.perf_counter() - t0
    silhouette = _silhouette(obs, settings)
    residuals: dict[str, dict[str, float]] = {}
    groups = {
        1: [p.root, p.log_scale, p.offset],
        2: [p.root, p.log_scale, p.offset, p.pose],
        3: [p.root, p.log_scale, p.offset, p.pose, p.shape],
    }
    for stage, steps in zip((1, 2, 3), settings.iterations, strict=True):
        t0 = time.perf_counter()
        optimiser = torch.optim.Adam(groups[stage], lr=settings.learning_rate)
        rest = None
        if stage < 3:  # the shape is fixed: its geometry once
            with torch.no_grad():
                rest = body.rest(p.shape)
        sat = 0.0
        for step in range(steps):
            optimiser.zero_grad()
            if stage == 3 and step >= settings.coverage_saturate[0]:
                sat = settings.coverage_saturate[1]
            terms = _losses(body, p, obs, w, settings, stage, silhouette, rest, depth, sat)
            sum(terms.values()).backward()
            optimiser.step()
            with torch.no_grad():
                p.shape.clamp_(0.0, 1.0)
                p.log_scale.clamp_(*LOG_SCALE_RANGE)
        with torch.no_grad():
            terms = _losses(body, p, obs, w, settings, stage, silhouette, None, depth, sat)
        residuals[f"stage{stage}"] = {k: round(float(v), 6) for k, v in terms.items()}
        residuals[f"stage{stage}"]["landmark_error_cube_x100"] = round(
            100.0 * body.landmark_error(p, obs, w), 4
        )
        seconds[f"stage{stage}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = _final_mesh(body, p)
    seconds["mesh"] = time.perf_counter() - t0
    result.residuals, result.seconds, result.crop = residuals, seconds, obs.crop
    return result


def _final_mesh(body: FitBody, p: _Params) -> BodyFit:
    """Anny's exact mesh and joints at the fitted values, placed in the cube."""
    kin = body.kin
    shape = {k: float(v) for k, v in zip(SHAPE_KEYS, p.shape.detach().numpy(), strict=True)}
    exact = kin.exact(shape)
    f64 = torch.float64
    root, pose = p.root.detach().to(f64), p.pose.detach().to(f64)
    rots = rotvec_matrix(torch.cat([root[None], (kin.groups.to(f64).T @ pose)[1:]], 0))
    heads = torch.tensor(exact.heads, dtype=f64)
    world_r, world_t = kin.forward_kinematics(rots, heads)
    posed = kin.pose_points(
        torch.tensor(exact.points, dtype=f64), torch.tensor(exact.mass, dtype=f64), world_r, world_t
    ).numpy()
    scale = float(torch.exp(p.log_scale.detach()))
    offset = p.offset.detach().numpy().astype(np.float64)
    vertices = scale * posed
    vertices[:, :2] += offset
    faces = kin.faces
    z0 = area_weighted_centroid(vertices, faces)[2]
    vertices[:, 2] -= z0
    translation = np.array([offset[0], offset[1], -z0])
    wr, wt = world_r.numpy(), world_t.numpy()
    joints = {}
    for name, bone in JOINT_BONES.items():
        slot = kin.merge[kin.labels.index(bone)]
        head = exact.all_heads[kin.labels.index(bone)]
        joints[name] = scale * (wr[slot] @ head + wt[slot]) + translation
    generic = {
        g: p.pose[i].detach().numpy().astype(np.float64) for i, g in enumerate(GENERIC_BONES)
    }
    root_np = root.numpy()
    return BodyFit(
        shape=shape,
        root=root_np,
        pose=generic,
        anny_pose_deltas=kin.anny_deltas(root_np, pose.numpy()),
        scale=scale,
        translation=translation,
        vertices=vertices,
        faces=faces,
        joints=joints,
        residuals={},
        seconds={},
    )
