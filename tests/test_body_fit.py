"""The fitting body against Anny itself, and the fitter on observations whose truth is known.

Needs ``anny`` (a test extra) and its cache (``anny_cache`` fixture: ANNY_CACHE_DIR, or a
temporary folder built once per session).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from pifuhd.body.anny import SHAPE_KEYS
from pifuhd.body.fit_terms import LANDMARK_KEYPOINTS
from pifuhd.body.kinematics import merge_map, rotation_vectors, rotvec_matrix
from pifuhd.body.poses import GENERIC_BONES, ArmPose, LegPose, Pose, joint_rotations

SHAPE = {"gender": 0.3, "age": 0.6, "muscle": 0.55, "weight": 0.4, "height": 0.7}
FK_TOLERANCE_CM = 1e-3
"""Our reduced skeleton vs Anny's own forward kinematics and skinning (float32 vs float64)."""


def test_rotvec_matrix_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(20, 3)) * rng.uniform(0.0, 3.0, size=(20, 1))
    vecs[0] = 0.0
    vecs[1] = [1e-6, 0.0, 0.0]
    ours = rotvec_matrix(torch.tensor(vecs)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(vecs).as_matrix(), atol=1e-9)


def test_merge_map_sends_bones_to_their_nearest_rotating_ancestor() -> None:
    # 0 root -> 1 -> 2 -> 3, and 1 -> 4; bones 0, 2 rotate
    merge, parents = merge_map([-1, 0, 1, 2, 1], keep=[0, 2])
    assert merge.tolist() == [0, 0, 1, 1, 0]
    assert parents == [-1, 0]


@pytest.fixture(scope="module")
def anny_model(anny_cache: None):
    from pifuhd.body.anny import load_anny

    return load_anny()


def _reference_joints(model, shape: dict[str, float]) -> dict[str, np.ndarray]:
    """The reference-pose joints (cm, subject axes) that ``anny_body`` derives poses from."""
    from pifuhd.body.anny import ANNY_TO_SUBJECT, JOINT_BONES, rest_model

    labels = list(model.bone_labels)
    with torch.no_grad():
        _, ref = model.get_bone_transforms(None, rest_model(model, shape)["rest_bone_poses"])
    heads = 100.0 * ref[0, :, :3, 3].double().numpy() @ ANNY_TO_SUBJECT.T
    return {k: heads[labels.index(b)] for k, b in JOINT_BONES.items()}


@pytest.mark.parametrize(
    "pose",
    [
        Pose("bent", arms=(ArmPose(abduction=80, elbow=70, twist=20), ArmPose(flexion=40))),
        Pose("walk", legs=(LegPose(flexion=25, knee=40), LegPose(flexion=-15)), torso_yaw=20),
    ],
)
def test_kinematics_reproduce_anny(anny_model, pose: Pose) -> None:
    from pifuhd.body.anny import anny_body
    from pifuhd.body.kinematics import BodyKinematics

    kin = BodyKinematics(anny_model)
    body = anny_body(SHAPE, pose)
    rots = joint_rotations(pose, _reference_joints(anny_model, SHAPE))
    generic = rotation_vectors(np.stack([rots[g] for g in GENERIC_BONES]))
    exact = kin.exact(SHAPE)
    f64 = torch.float64
    r = rotvec_matrix(
        torch.cat([torch.zeros(1, 3, dtype=f64), (kin.groups.double().T @ generic)[1:]])
    )
    world_r, world_t = kin.forward_kinematics(r, torch.tensor(exact.heads))
    posed = kin.pose_points(
        torch.tensor(exact.points), torch.tensor(exact.mass, dtype=f64), world_r, world_t
    ).numpy()
    diff = 100.0 * posed[body.weld] - body.vertices
    diff -= diff.mean(axis=0)  # anny_body stands the body on y = 0 with the pelvis at x = z = 0
    assert np.abs(diff).max() < FK_TOLERANCE_CM
    deltas = kin.anny_deltas(np.zeros(3), generic.numpy())
    np.testing.assert_allclose(deltas, body.info["pose_deltas"], atol=1e-6)
    # the shape model is close to Anny's exact rest mesh for a shape far from the middle
    points, _, _ = kin.rest(torch.tensor([SHAPE.get(k, 0.5) for k in SHAPE_KEYS]))
    model_err_cm = 100.0 * np.linalg.norm(
        points.sum(1).numpy() - exact.reference_vertices(), axis=1
    )
    assert model_err_cm.max() < 2.0


OLD = {"gender": 0.2, "age": 0.88, "muscle": 0.45, "weight": 0.3, "height": 0.3}
"""An old, short, slim woman: Anny's mesh bends most with age here (about 70 years)."""


def test_shape_model_follows_anny_at_an_old_age(anny_model) -> None:
    """The age-conditioned model against Anny's exact rest mesh and bone heads; a single
    linearisation about the middle (the model's age-0.5 slice extended linearly) misses by
    several centimetres."""
    from pifuhd.body.kinematics import BodyKinematics

    kin = BodyKinematics(anny_model)
    exact = kin.exact(OLD)
    values = torch.tensor([OLD.get(k, 0.5) for k in SHAPE_KEYS])
    points, _, heads = kin.rest(values)
    err_cm = 100.0 * np.linalg.norm(points.sum(1).numpy() - exact.reference_vertices(), axis=1)
    assert err_cm.mean() < 0.5 and err_cm.max() < 1.5  # measured 0.15 and 0.63
    assert 100.0 * np.abs(heads.numpy() - exact.heads).max() < 1.0  # measured 0.16
    age = SHAPE_KEYS.index("age")
    middle = values.clone()
    middle[age] = 0.5
    step = values.clone()
    step[age] = 0.5 + 1.0 / 8.0  # the next age node: the slope of the middle segment
    p_mid, _, _ = kin.rest(middle)
    p_step, _, _ = kin.rest(step)
    linear = p_mid + (p_step - p_mid) * (OLD["age"] - 0.5) * 8.0
    linear_err_cm = 100.0 * np.linalg.norm(
        linear.sum(1).numpy() - exact.reference_vertices(), axis=1
    )
    assert linear_err_cm.mean() > 5.0  # measured 11.3


def _perfect_observations(anny_model, shape: dict, root: np.ndarray, pose: np.ndarray):
    """Observations made from the fitting body itself: exact landmarks and world landmarks."""
    from pifuhd.body.fit import fit_body_model
    from pifuhd.body.observations import FitObservations
    from pifuhd.io.crops import CropRect

    body = fit_body_model(anny_model)
    s = torch.tensor([shape.get(k, 0.5) for k in SHAPE_KEYS], dtype=torch.float32)
    with torch.no_grad():
        state = body.evaluate(s, torch.tensor(root, dtype=torch.float32), torch.tensor(pose))
    lm = state.landmarks.numpy().astype(np.float64)
    scale, offset = 0.95, np.array([0.03, 0.02])
    keypoints = scale * lm[:, :2] + offset
    world = lm - lm[[23, 24]].mean(axis=0)
    return (
        FitObservations(keypoints, np.ones(33), world, None, CropRect(0, 0, 512, 512), (512, 512)),
        body,
        scale * lm + np.array([*offset, 0.0]),
    )


def test_fit_recovers_a_known_pose_from_exact_landmarks(anny_model) -> None:
    """Landmarks made by the body itself at a known pose, turned 30 degrees: the fit finds the
    landmarks again in 3D (depth too, thanks to the world landmarks) to within 2 cm."""
    from pifuhd.body.fit import FitSettings, fit_observations

    rng = np.random.default_rng(1)
    pose = np.zeros((len(GENERIC_BONES), 3), np.float32)
    pose[GENERIC_BONES.index("upperarm.L")] = [0.0, 0.0, 0.9]
    pose[GENERIC_BONES.index("lowerarm.L")] = [0.0, 0.0, 0.0]
    pose[GENERIC_BONES.index("upperleg.R")] = [-0.5, 0.0, 0.0]
    pose[GENERIC_BONES.index("lowerleg.R")] = [0.8, 0.0, 0.0]
    pose += rng.normal(scale=0.03, size=pose.shape).astype(np.float32)
    root = np.array([0.0, np.radians(30.0), 0.0])
    obs, body, truth = _perfect_observations(anny_model, SHAPE, root, pose)
    # the default settings are what is tested, except that the exact world landmarks are used
    # as given: the learned depths replace MediaPipe's guesses (tested in test_lift.py), not
    # the truth
    threads = torch.get_num_threads()
    fit = fit_observations(obs, anny_model, FitSettings(lift=False, threads=1))
    assert torch.get_num_threads() == threads  # the process's count is restored
    with torch.no_grad():
        s = torch.tensor([fit.shape[k] for k in SHAPE_KEYS], dtype=torch.float32)
        lm = body.evaluate(
            s,
            torch.tensor(fit.root).float(),
            torch.tensor(np.stack([fit.pose[g] for g in GENERIC_BONES])).float(),
        ).landmarks.numpy()
    mapped = sorted(LANDMARK_KEYPOINTS)
    ours = fit.scale * lm[mapped]
    ours[:, :2] += fit.translation[:2]
    ref = truth[mapped]
    ours[:, 2] += (ref[:, 2] - ours[:, 2]).mean()
    err_cm = 100.0 * np.linalg.norm(ours - ref, axis=1)
    assert err_cm.mean() < 2.0, err_cm
    assert fit.residuals["stage3"]["landmark_error_cube_x100"] < 1.0
    assert set(fit.joints) >= {"wrist.L", "ankle.R", "root"}
    assert fit.vertices.shape == (anny_model.template_vertices.shape[0], 3)


def test_kinematics_cache_round_trip(anny_model, tmp_path, monkeypatch) -> None:
    """The shape model is computed once, cached beside Anny's cache, and read back the same;
    a file for another model is ignored."""
    from pifuhd.body import kinematics

    path = tmp_path / "kin.npz"
    monkeypatch.setattr(kinematics, "kinematics_cache_path", lambda: path)
    built = kinematics.BodyKinematics(anny_model)
    assert path.is_file()
    cached = kinematics.BodyKinematics(anny_model)
    for name in kinematics.CACHED_ARRAYS:
        np.testing.assert_array_equal(
            getattr(cached.shape_model, name).numpy(), getattr(built.shape_model, name).numpy()
        )
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["key"] = arrays["key"] + 1.0  # as if written for another Anny
    np.savez(path, **arrays)
    assert kinematics.read_cached(path, anny_model) is None


def _leg_landmarks(thigh: tuple, shin: tuple) -> np.ndarray:
    """(33, 3) landmarks with both legs hip -> knee -> ankle along the given steps."""
    out = np.zeros((33, 3))
    for hip, knee, ankle, x in ((23, 25, 27, 0.1), (24, 26, 28, -0.1)):
        out[hip] = (x, 0.0, 0.0)
        out[knee] = out[hip] + thigh
        out[ankle] = out[knee] + shin
    return out


def test_standing_legs_gate_and_lean_prior() -> None:
    """The standing-legs prior: off for seated (foreshortened) or bent legs and unseen ones,
    zero within 10 degrees of upright in depth, growing with the lean beyond."""
    from pifuhd.body.fit_terms import leg_lean_term, standing_legs

    weights = np.ones(33)
    standing = _leg_landmarks((0.0, -0.4, 0.0), (0.0, -0.4, 0.0))
    assert standing_legs(standing[:, :2], weights).tolist() == [1.0, 1.0]
    seated = _leg_landmarks((0.0, -0.1, 0.4), (0.0, -0.4, 0.0))  # thigh towards the camera
    assert standing_legs(seated[:, :2], weights).tolist() == [0.0, 0.0]
    bent = _leg_landmarks((0.3, -0.3, 0.0), (-0.3, -0.3, 0.0))  # a 90-degree knee
    assert standing_legs(bent[:, :2], weights).tolist() == [0.0, 0.0]
    hidden = weights.copy()
    hidden[27] = 0.2
    assert standing_legs(standing[:, :2], hidden).tolist() == [0.0, 1.0]

    on = torch.ones(2)
    for degrees, expected in ((0.0, 0.0), (8.0, 0.0), (30.0, (0.5 - 0.17) ** 2)):
        t = np.radians(degrees)
        step = (0.0, -0.4 * np.cos(t), 0.4 * np.sin(t))
        lean = leg_lean_term(torch.tensor(_leg_landmarks(step, step)), on)
        assert float(lean) == pytest.approx(expected, abs=1e-6)
    tilted = torch.tensor(_leg_landmarks((0.0, -0.3, 0.3), (0.0, -0.3, 0.3)))
    assert float(leg_lean_term(tilted, torch.zeros(2))) == 0.0  # no standing leg: no prior


def test_torso_lean_prior_is_free_near_upright() -> None:
    """Zero within 8 degrees of an upright torso in depth, (sin - 0.14)^2 beyond, either way."""
    from pifuhd.body.fit_terms import torso_lean_term

    for degrees in (0.0, 6.0, -6.0, 30.0, -30.0):
        t = np.radians(degrees)
        marks = np.zeros((33, 3))
        marks[[23, 24], 0] = (-0.1, 0.1)
        marks[[11, 12]] = [(-0.15, 0.5 * np.cos(t), 0.5 * np.sin(t))] * 2
        marks[12, 0] = 0.15
        expected = max(abs(np.sin(t)) - 0.14, 0.0) ** 2
        assert float(torso_lean_term(torch.tensor(marks))) == pytest.approx(expected, abs=1e-6)


def test_pose_prior_leaves_upper_arm_twist_free_up_to_the_limit() -> None:
    """A pure twist of an upper arm about its own bone costs only the weak pull to the
    reference pose (0.01 theta^2) within ``twist_free``, and ``twist_weight`` times the
    excess squared beyond it; a hinge-free elbow bend costs the same with any twist limit."""
    from types import SimpleNamespace

    from pifuhd.body.fit_terms import pose_prior

    down = np.array([0.0, -1.0, 0.0])
    hinges = {}
    for name in GENERIC_BONES:
        if name.startswith(("lowerarm", "lowerleg")):
            hinges[name] = np.array([1.0, 0.0, 0.0, 0.0])
        elif name.startswith(("upperarm", "upperleg")):
            hinges[name] = down
    body = SimpleNamespace(hinges=hinges)
    arm = GENERIC_BONES.index("upperarm.L")
    for degrees in (0.0, 60.0, 100.0):
        theta = np.radians(degrees)
        pose = torch.zeros((len(GENERIC_BONES), 3), dtype=torch.float64)
        pose[arm] = torch.tensor(theta * down)
        loose = float(pose_prior(body, pose, twist_free=1.4, twist_weight=2.0))
        strict = float(pose_prior(body, pose))
        assert loose == pytest.approx(0.01 * theta**2 + 2.0 * max(theta - 1.4, 0.0) ** 2)
        assert strict == pytest.approx(1.01 * theta**2)
    elbow = GENERIC_BONES.index("lowerarm.L")
    pose = torch.zeros((len(GENERIC_BONES), 3), dtype=torch.float64)
    pose[elbow] = torch.tensor([1.2, 0.0, 0.0])
    assert float(pose_prior(body, pose, twist_free=1.4)) == pytest.approx(0.01 * 1.44)


def test_depth_term_compares_hip_relative_depths_in_cube_units() -> None:
    """Depths are taken relative to the hip midpoint after the camera scale, so a shift of the
    whole body in depth costs nothing; one landmark a sigma off costs half its weight share."""
    from pifuhd.body.fit_terms import depth_term

    rng = np.random.default_rng(3)
    marks = torch.tensor(rng.normal(size=(33, 3)))
    scale = torch.tensor(0.8, dtype=torch.float64)
    z = 0.8 * marks[:, 2]
    target = z - (z[23] + z[24]) / 2.0
    w = torch.zeros(33, dtype=torch.float64)
    w[[15, 16, 23, 24]] = 1.0
    assert float(depth_term(marks, scale, target, w, 0.06)) == pytest.approx(0.0, abs=1e-12)
    shifted = marks.clone()
    shifted[:, 2] += 5.0
    assert float(depth_term(shifted, scale, target, w, 0.06)) == pytest.approx(0.0, abs=1e-12)
    off = target.clone()
    off[15] += 0.06  # the left wrist one sigma from the body's depth
    assert float(depth_term(marks, scale, off, w, 0.06)) == pytest.approx(0.5 / 4.0)


def test_coverage_saturates_for_mask_points_no_body_reaches() -> None:
    """A skirt's hem 20 cm from the legs pulls with the full quadratic, but only by at most
    scale^2 once saturated; a mask point within the margin costs nothing either way."""
    from pifuhd.body.mask_terms import coverage_term

    silhouette = {
        "outside": torch.zeros((1, 1, 64, 64)),  # every body point inside the mask
        "points": torch.tensor([[0.0, 0.0], [0.21, 0.0]]),  # on the body; 0.21 beyond it
    }
    body = torch.tensor([[0.0, 0.0], [0.005, 0.0]], requires_grad=True)
    _, full = coverage_term(body, silhouette, margin=0.02)
    e2 = ((0.21 - 0.005 - 0.02) / 0.02) ** 2  # the far point's squared excess, margins
    assert float(full) == pytest.approx(e2 / 2, rel=1e-5)
    _, sat = coverage_term(body, silhouette, margin=0.02, saturate=3.0)
    assert float(sat) == pytest.approx(9.0 * e2 / (e2 + 9.0) / 2, rel=1e-5)
    assert float(sat) < 4.5
    (grad_full,) = torch.autograd.grad(full, body)
    body2 = body.detach().clone().requires_grad_(True)
    _, sat2 = coverage_term(body2, silhouette, margin=0.02, saturate=3.0)
    (grad_sat,) = torch.autograd.grad(sat2, body2)
    assert abs(float(grad_sat[1, 0])) < 0.05 * abs(float(grad_full[1, 0]))
    near = {"outside": silhouette["outside"], "points": torch.tensor([[0.015, 0.0]])}
    assert float(coverage_term(body, near, saturate=3.0)[1]) == 0.0


def test_edge_distance_is_zero_on_the_mask_edge() -> None:
    """Signed distance at pixel centres, half a pixel from the edge on both sides, so that a
    point on the edge itself reads 0 and the inside term leaves points inside alone."""
    from pifuhd.body.mask_terms import coverage_term, edge_distance

    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 2:6] = True
    d = edge_distance(mask)
    assert d[3, 3] == pytest.approx(-1.5) and d[2, 3] == pytest.approx(-0.5)
    assert d[1, 3] == pytest.approx(0.5) and d[0, 3] == pytest.approx(1.5)
    assert d[1, 1] == pytest.approx(np.sqrt(2) - 0.5)
    assert (edge_distance(np.ones((4, 4), dtype=bool)) < 0).all()
    cube = torch.tensor(d * (2.0 / 8), dtype=torch.float32)[None, None]
    silhouette = {"outside": cube, "points": torch.tensor([[0.0, 0.0]])}
    # the mask's left edge is at cube x = -0.5; a point on it and one inside cost nothing
    on_edge = torch.tensor([[-0.5, 0.0], [0.0, 0.0]])
    assert float(coverage_term(on_edge, silhouette)[0]) == pytest.approx(0.0, abs=1e-6)
    out = torch.tensor([[-0.75, 0.0]])  # a pixel (0.25 cube units) beyond the edge
    assert float(coverage_term(out, silhouette, margin=0.05)[0]) == pytest.approx(25.0, rel=1e-4)


def test_floor_level_is_the_mask_bottom_raised_unless_cut_by_a_border() -> None:
    from pifuhd.body.mask_terms import FLOOR_BELOW, floor_level

    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 3:5] = True  # rows 2..5: the bottom edge at row 6, cube y = 1 - 6 * 2 / 8
    assert floor_level(mask, None) == pytest.approx(-0.5 + FLOOR_BELOW)
    known = np.ones((8, 8), dtype=bool)
    assert floor_level(mask, known) == pytest.approx(-0.5 + FLOOR_BELOW)
    known[6:, 4] = False  # the photo ends under the feet: the person may go on
    assert floor_level(mask, known) is None
    mask[7, 3] = True  # the mask reaches the crop's bottom row
    assert floor_level(mask, None) is None
    assert floor_level(np.zeros((8, 8), dtype=bool), None) is None


def test_floor_term_pulls_only_a_body_above_the_floor() -> None:
    """The mean of the five lowest heights against the floor, one-sided, in margins."""
    from pifuhd.body.mask_terms import floor_term

    heights = torch.tensor([0.5, 0.2, -0.60, -0.61, -0.62, -0.63, -0.64, -0.90], requires_grad=True)
    low = np.mean([-0.61, -0.62, -0.63, -0.64, -0.90])
    cost = floor_term(heights, -0.8, margin=0.02)
    assert float(cost) == pytest.approx(((low + 0.8) / 0.02) ** 2, rel=1e-5)
    (grad,) = torch.autograd.grad(cost, heights)
    assert float(grad[0]) == 0.0 and float(grad[-1]) > 0.0  # only the lowest points move
    assert float(floor_term(heights, -0.5)) == 0.0  # already below: left to the inside term
