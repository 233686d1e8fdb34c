"""The body fitter's pieces: the landmark map, the fitting body, and the energy terms.

Frames as in :mod:`pifuhd.body.kinematics` (metres, subject axes rotated by the body's root
rotation, i.e. cube axes before the camera's scale and offset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pifuhd.body.anny import POSE_BONES, SHAPE_KEYS
from pifuhd.body.kinematics import SHAPE_CENTRE, BodyKinematics
from pifuhd.body.poses import GENERIC_BONES

LANDMARK_KEYPOINTS = {
    0: "nose",
    2: "left_eye",
    5: "right_eye",
    7: "left_ear",
    8: "right_ear",
    11: "left_shoulder",
    12: "right_shoulder",
    13: "left_elbow",
    14: "right_elbow",
    15: "left_wrist",
    16: "right_wrist",
    23: "left_hip",
    24: "right_hip",
    25: "left_knee",
    26: "right_knee",
    27: "left_ankle",
    28: "right_ankle",
    29: "left_heel",
    30: "right_heel",
    31: "left_big_toe",
    32: "right_big_toe",
}
"""MediaPipe landmark index -> Anny's COCO-style keypoint (``anny.keypoints``; "left" is the
person's left in both). MediaPipe's hips and shoulders are surface-level landmarks like COCO's,
not joint centres, so they map to Anny's regressed keypoints rather than to bone heads; the
landmarks left out (inner/outer eyes, mouth, fingers) have no Anny counterpart."""

TORSO_LANDMARKS = (11, 12, 23, 24)

DIRECTION_PAIRS = (
    (11, 12, 1),
    (23, 24, 1),
    (23, 11, 1),
    (24, 12, 1),
    (11, 13, 2),
    (13, 15, 2),
    (12, 14, 2),
    (14, 16, 2),
    (23, 25, 2),
    (25, 27, 2),
    (24, 26, 2),
    (26, 28, 2),
    (29, 31, 2),
    (30, 32, 2),
)
"""(from, to, first stage) landmark pairs whose 3D directions are matched to MediaPipe's."""

LIMB_SEGMENTS = (
    ("upperarm.L", (11, 13)),
    ("lowerarm.L", (13, 15)),
    ("upperarm.R", (12, 14)),
    ("lowerarm.R", (14, 16)),
    ("upperleg.L", (23, 25)),
    ("lowerleg.L", (25, 27)),
    ("upperleg.R", (24, 26)),
    ("lowerleg.R", (26, 28)),
)
"""Generic bone -> the landmarks spanning it, parents before children."""

SILHOUETTE_POINTS = 1500


@dataclass
class BodyState:
    """One evaluation: (33, 3) landmarks (zeros where unmapped), (S, 3) surface samples and
    the (B, 3, 3) world rotations of the rotating bones."""

    landmarks: torch.Tensor
    surface: torch.Tensor
    rotations: torch.Tensor
    body: FitBody

    def parent_rotation(self, generic: str) -> torch.Tensor:
        """(3, 3) world rotation of the parent of a generic bone's first Anny bone."""
        kin = self.body.kin
        slot = kin.bones.index(POSE_BONES[generic][0])
        return self.rotations[kin.parents[slot]]


class FitBody:
    """The differentiable body the fitter poses: kinematics, landmark regressor, surface
    samples and the reference geometry the priors use."""

    def __init__(self, model) -> None:
        from anny.keypoints import KeypointsRegressor

        self.kin = BodyKinematics(model)
        regressor = KeypointsRegressor.coco(model)
        weights = regressor.regression_weights.double().numpy()  # (K, V)
        rows = np.zeros((33, weights.shape[1]))
        for mp, label in LANDMARK_KEYPOINTS.items():
            rows[mp] = weights[regressor.labels.index(label)]
        support = np.nonzero(np.abs(rows).sum(0) > 0)[0]
        rng = np.random.default_rng(0)
        surface = rng.choice(weights.shape[1], SILHOUETTE_POINTS, replace=False)
        kin = self.kin
        # the 33 landmarks pose as 33 regressed points, not as their ~8,500 support vertices
        landmarks = kin.shape_model.subset(torch.tensor(support)).regressed(rows[:, support])
        self._shape = landmarks.stacked(kin.shape_model.subset(torch.tensor(surface)))
        self.n_landmarks = len(rows)
        self.mapped = torch.tensor([i in LANDMARK_KEYPOINTS for i in range(33)])
        centre = self.kin.exact({k: SHAPE_CENTRE for k in SHAPE_KEYS})
        self._reference = centre
        self.hinges = _hinges(self.kin, centre.all_heads)

    def rest(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The shape model's geometry of the fitted points (``BodyKinematics.rest`` of the 33
        regressed landmarks, then the surface samples)."""
        return self._shape.geometry(shape)

    def evaluate(
        self,
        shape: torch.Tensor,
        root: torch.Tensor,
        pose: torch.Tensor,
        rest: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> BodyState:
        """Pose the body; ``rest``: :meth:`rest` computed beforehand (a stage with a fixed
        shape computes it once)."""
        points, mass, heads = self.rest(shape) if rest is None else rest
        rots = self.kin.bone_rotations(root, pose)
        world_r, world_t = self.kin.forward_kinematics(rots, heads)
        posed = self.kin.pose_points(points, mass, world_r, world_t)
        return BodyState(posed[: self.n_landmarks], posed[self.n_landmarks :], world_r, self)

    def reference_landmarks(self) -> np.ndarray:
        """(33, 3) landmarks of the reference pose at the middle shape."""
        with torch.no_grad():
            zero = torch.zeros(3)
            state = self.evaluate(
                torch.full((len(SHAPE_KEYS),), SHAPE_CENTRE), zero, torch.zeros(13, 3)
            )
        return state.landmarks.numpy().astype(np.float64)

    def landmark_error(self, p, obs, w: torch.Tensor) -> float:
        """Weighted mean 2D distance (cube units) between projected and observed landmarks."""
        with torch.no_grad():
            state = self.evaluate(p.shape, p.root, p.pose)
            proj = torch.exp(p.log_scale) * state.landmarks[:, :2] + p.offset
            d = torch.linalg.norm(proj - torch.tensor(obs.keypoints, dtype=torch.float32), dim=1)
            return float((w * d).sum() / w.sum().clamp(min=1e-6))


def _hinges(kin: BodyKinematics, heads: np.ndarray) -> dict[str, np.ndarray]:
    """Per generic limb bone: its unit direction in the reference pose and, for elbows and
    knees, the hinge axis (flexion positive) and the reference bend angle (radians)."""
    labels = kin.labels

    def head(name: str) -> np.ndarray:
        return heads[labels.index(name)]

    out = {}
    for s in "LR":
        upper = head(f"lowerarm01.{s}") - head(f"upperarm01.{s}")
        fore = head(f"wrist.{s}") - head(f"lowerarm01.{s}")
        axis = np.cross(upper, fore)
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(upper, [0.0, 0.0, 1.0])
        bend = np.arctan2(np.linalg.norm(np.cross(upper, fore)), upper @ fore)
        out[f"lowerarm.{s}"] = np.concatenate([axis / np.linalg.norm(axis), [bend]])
        out[f"upperarm.{s}"] = upper / np.linalg.norm(upper)
        thigh = head(f"lowerleg01.{s}") - head(f"upperleg01.{s}")
        out[f"upperleg.{s}"] = thigh / np.linalg.norm(thigh)
        out[f"lowerleg.{s}"] = np.array([1.0, 0.0, 0.0, 0.0])
    return out


def geman_mcclure(distance: torch.Tensor, sigma: float) -> torch.Tensor:
    """Robust penalty ``d^2 / (d^2 + sigma^2)`` (Geman-McClure), in [0, 1)."""
    d2 = distance**2
    return d2 / (d2 + sigma**2)


def direction_term(
    landmarks: torch.Tensor, world: torch.Tensor, w: torch.Tensor, stage: int
) -> torch.Tensor:
    """Weighted mean ``1 - cos`` between the body's and MediaPipe's 3D directions of
    ``DIRECTION_PAIRS`` active at ``stage`` (weight: the smaller visibility of the two)."""
    pairs = [(a, b) for a, b, first in DIRECTION_PAIRS if first <= stage]
    a, b = (torch.tensor(x) for x in zip(*pairs, strict=True))
    mine, theirs = landmarks[b] - landmarks[a], world[b] - world[a]
    cos = torch.nn.functional.cosine_similarity(mine, theirs, dim=1, eps=1e-8)
    weight = torch.minimum(w[a], w[b])
    return (weight * (1.0 - cos)).sum() / weight.sum().clamp(min=1e-6)


def depth_term(
    landmarks: torch.Tensor,
    scale: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor,
    sigma: float,
) -> torch.Tensor:
    """Weighted mean Geman-McClure of each landmark's depth error relative to the hip midpoint.

    Args:
        landmarks: (33, 3) body landmarks (metres, before the camera's ``scale``).
        scale: () cube units per metre.
        target: (33,) cube z relative to the hip midpoint (``pifuhd.body.lift.lifted_depths``).
        w: (33,) weights; sigma: the robust scale in cube units.

    The 3D direction term alone leaves a limb free to tilt in depth at little cost (``1 - cos``
    is flat near zero), and a 2D length a few cm off the body's then tips a straight leg or a
    raised arm 15-20 degrees out of the image plane; this term holds each landmark at its
    lifted depth.
    """
    z = scale * landmarks[:, 2]
    rel = z - (z[23] + z[24]) / 2.0
    return (w * geman_mcclure(rel - target, sigma)).sum() / w.sum().clamp(min=1e-6)


def pose_prior(
    body: FitBody, pose: torch.Tensor, twist_free: float = 0.0, twist_weight: float = 1.0
) -> torch.Tensor:
    """Hand-made pose prior on (G, 3) generic rotation vectors (radians): elbows and knees
    bend about their hinge only and not past straight, upper limbs twist little (free up to
    ``twist_free`` radians about their own axis, then ``twist_weight`` times the excess
    squared), the torso, neck, head and feet turn little; everything a little towards the
    reference pose."""
    total = 0.01 * (pose**2).sum()
    for i, name in enumerate(GENERIC_BONES):
        r = pose[i]
        if name.startswith(("lowerarm", "lowerleg")):
            h = torch.tensor(body.hinges[name], dtype=r.dtype)
            axis, bend = h[:3], h[3]
            angle = r @ axis
            total = total + 10.0 * ((r - angle * axis) ** 2).sum()
            total = total + 10.0 * torch.relu(-(angle + bend)) ** 2
        elif name.startswith(("upperarm", "upperleg")):
            d = torch.tensor(body.hinges[name], dtype=r.dtype)
            excess = torch.relu((r @ d).abs() - twist_free)
            total = total + twist_weight * excess**2
        elif name.startswith("foot"):
            total = total + 0.5 * (r**2).sum()
        else:
            total = total + 1.0 * (r**2).sum()
    return total


LEGS = ((23, 25, 27), (24, 26, 28))
"""(hip, knee, ankle) MediaPipe landmarks of the left and right leg."""


def standing_legs(keypoints: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(2,) float: 1 for each leg whose 2D landmarks look like a standing leg, else 0.

    A leg counts when its hip, knee and ankle are seen (weight >= 0.5), it is nearly straight
    in the image (knee angle over 150 degrees) and its thigh is not foreshortened (at least
    0.75 of the shin's image length). A seated leg, or one raised towards the camera, fails
    the last test, so the standing prior (:func:`leg_lean_term`) leaves it alone.

    Args:
        keypoints: (33, 2) cube x, y; weights: (33,) landmark weights.
    """
    out = np.zeros(2)
    for i, (h, k, a) in enumerate(LEGS):
        if min(weights[h], weights[k], weights[a]) < 0.5:
            continue
        thigh, shin = keypoints[k] - keypoints[h], keypoints[a] - keypoints[k]
        lt, ls = np.linalg.norm(thigh), np.linalg.norm(shin)
        if lt < 1e-6 or ls < 1e-6:
            continue
        straight = float(thigh @ shin) / (lt * ls) > np.cos(np.radians(30.0))
        out[i] = float(straight and lt >= 0.75 * ls)
    return out


def leg_lean_term(
    landmarks: torch.Tensor, standing: torch.Tensor, max_lean: float = 0.17
) -> torch.Tensor:
    """Standing legs stay near upright in depth: the mean over ``standing`` legs (2,) of
    ``relu(|sin lean| - max_lean)^2``, where lean is the hip-to-ankle line's angle out of the
    image plane (``max_lean`` 0.17: about 10 degrees free).

    A single photo barely shows whether a straight leg tilts towards the camera or away from it
    (the landmarks' depths order the ankle against the knee right in half of the shins,
    BENCHMARKS.md "Body fit"); people in photos mostly stand on the floor beneath their hips.
    """
    total = landmarks.new_zeros(())
    for i, (h, _k, a) in enumerate(LEGS):
        line = landmarks[a] - landmarks[h]
        sine = line[2].abs() / torch.linalg.norm(line).clamp(min=1e-6)
        total = total + standing[i] * torch.relu(sine - max_lean) ** 2
    return total / standing.sum().clamp(min=1.0)


SHOULDERS, HIPS = (11, 12), (23, 24)


def torso_lean_term(landmarks: torch.Tensor, max_lean: float = 0.14) -> torch.Tensor:
    """The torso stays near upright in depth: ``relu(|sin lean| - max_lean)^2``, where lean is
    the line from the mid-hips to the mid-shoulders out of the image plane (``max_lean`` 0.14:
    about 8 degrees free).

    Fits of front views with raised arms put the wrists 20-30 cm in front of the shoulders and
    bend the torso back 12-20 degrees to match (13 raised arms of people 1020-1079,
    ``docs/training.md``); people in photos mostly stand with an upright torso.
    """
    line = landmarks[list(SHOULDERS)].mean(0) - landmarks[list(HIPS)].mean(0)
    sine = line[2].abs() / torch.linalg.norm(line).clamp(min=1e-6)
    return torch.relu(sine - max_lean) ** 2
