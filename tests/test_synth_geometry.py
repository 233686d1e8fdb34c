"""Geometry, skinning, pose and texture helpers of the synthetic-people generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from pifuhd.body.poses import (
    ArmPose,
    Pose,
    joint_rotations,
    limb_direction,
    rotation,
    sample_pose,
    swing,
)
from pifuhd.body.skinned import limit_influences, skin, split_at_seams, unskin
from pifuhd.synth.surface import (
    Lerp,
    clip_by_field,
    closed_tube,
    ellipsoid,
    thick_sheet,
    weld_ids,
)
from pifuhd.synth.textures import fbm, rasterize_uv, tile_uv, value_noise
from tests.synth_standin import rest_joints

EXACT = 1e-9
ROUND_TRIP = 1e-8


def sphere(radius: float = 10.0) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=radius)


def rim_edges(faces: np.ndarray) -> np.ndarray:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1)
    unique, count = np.unique(edges, axis=0, return_counts=True)
    return unique[count == 1]


def test_clip_by_field_cuts_a_sphere_along_the_plane():
    s = sphere()
    lerp, faces = clip_by_field(s.faces, s.vertices[:, 1] - 3.0)
    verts = lerp(s.vertices)
    assert verts[:, 1].max() <= 3.0 + EXACT
    rim = np.unique(rim_edges(faces))
    np.testing.assert_allclose(verts[rim, 1], 3.0, atol=EXACT)
    cap = trimesh.Trimesh(verts, faces, process=False)
    assert cap.is_winding_consistent
    expected = 2 * math.pi * 10.0 * 13.0  # area of the zone below y = 3 (icosphere: ~1 %)
    assert cap.area == pytest.approx(expected, rel=0.02)
    assert len(rim_edges(faces)) == len(rim), "the cut is one closed loop of shared vertices"


def test_lerp_carries_any_linear_attribute():
    s = sphere()
    lerp, _ = clip_by_field(s.faces, s.vertices[:, 0] + 0.3 * s.vertices[:, 2])
    attribute = s.vertices @ np.array([1.0, -2.0, 0.5]) + 4.0
    np.testing.assert_allclose(lerp(attribute), lerp(s.vertices) @ [1.0, -2.0, 0.5] + 4.0)


def test_weld_ids_join_seam_copies():
    weld = np.array([0, 1, 2, 1])  # vertex 3 is a seam copy of vertex 1
    lerp = Lerp(np.array([0, 0, 3, 2]), np.array([1, 3, 2, 1]), np.array([0.25, 0.25, 0.75, 0.25]))
    ids = weld_ids(lerp, weld)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


@pytest.mark.parametrize("make", ["tube", "sheet", "ellipsoid"])
def test_solids_are_closed_and_outward(make):
    if make == "tube":
        a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        rings = np.stack(
            [
                np.stack([r * np.sin(a), np.full(20, y), r * np.cos(a)], 1)
                for y, r in ((10, 3), (5, 4), (0, 5))
            ]
        )
        verts, faces, uv = closed_tube(rings)
    elif make == "sheet":
        g = np.stack(np.meshgrid(np.linspace(-1, 1, 6), np.linspace(1, -1, 5)), -1)
        outer = np.concatenate([g, np.ones((*g.shape[:2], 1))], -1)
        inner = outer.copy()
        inner[..., 2] = 0.2
        verts, faces, uv = thick_sheet(outer, inner)
    else:
        verts, faces, uv = ellipsoid()
    mesh = trimesh.Trimesh(verts, faces)  # processing merges the uv seam copies
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0
    assert uv.min() >= 0.0 and uv.max() <= 1.0 and len(uv) == len(verts)


def random_rigid(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.tile(np.eye(4), (n, 1, 1))
    for t in out:
        t[:3, :3] = rotation(rng.normal(size=3), rng.uniform(-40, 40))
        t[:3, 3] = rng.normal(size=3) * 5
    return out


def test_unskin_inverts_skin():
    rng = np.random.default_rng(0)
    rest = rng.normal(size=(200, 3)) * 20
    weights = rng.dirichlet(np.ones(4) * 0.7, size=200)
    transforms = random_rigid(rng, 4)
    posed = skin(rest, weights, transforms)
    np.testing.assert_allclose(unskin(posed, weights, transforms), rest, atol=ROUND_TRIP)


def test_skin_with_one_bone_is_its_transform():
    rng = np.random.default_rng(1)
    rest = rng.normal(size=(10, 3))
    t = random_rigid(rng, 3)
    weights = np.zeros((10, 3))
    weights[:, 2] = 1
    np.testing.assert_allclose(skin(rest, weights, t), rest @ t[2, :3, :3].T + t[2, :3, 3])


def test_limit_influences_keeps_the_largest_and_sums_to_one():
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(20), size=50)
    kept = limit_influences(w, 5)
    assert ((kept > 0).sum(axis=1) <= 5).all()
    np.testing.assert_allclose(kept.sum(axis=1), 1.0)
    top = np.argsort(-w, axis=1)[:, :5]
    assert (np.take_along_axis(kept, top, 1) > 0).all()


def test_split_at_seams_gives_one_vertex_per_position_and_uv():
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    face_uv = np.array([[0, 1, 2], [4, 2, 3]])  # vertex 0 has two uvs
    new_faces, weld, uv_ids = split_at_seams(faces, face_uv)
    assert len(weld) == 5
    np.testing.assert_array_equal(weld[new_faces], faces)
    np.testing.assert_array_equal(uv_ids[new_faces], face_uv)


def test_pose_rotations_are_rotations_and_limbs_point_where_asked():
    joints = rest_joints()
    rng = np.random.default_rng(3)
    for _ in range(20):
        for rot in joint_rotations(sample_pose(rng), joints).values():
            np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
            assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(limb_direction(1.0, 90.0, 0.0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(limb_direction(-1.0, 0.0, 90.0), [0, 0, 1], atol=1e-12)
    t_pose = Pose("t", arms=(ArmPose(90, 0, 0, 0), ArmPose(90, 0, 0, 0)))
    rot = joint_rotations(t_pose, joints)["upperarm.L"]
    upper = joints["elbow.L"] - joints["shoulder.L"]
    np.testing.assert_allclose(rot @ upper / np.linalg.norm(upper), [1, 0, 0], atol=1e-9)
    src, dst = np.array([0.0, -1, 0]), np.array([1.0, 1, 1]) / math.sqrt(3)
    np.testing.assert_allclose(swing(src, dst) @ src, dst, atol=1e-12)


def test_sample_pose_is_deterministic():
    a = sample_pose(np.random.default_rng(7)).to_dict()
    assert a == sample_pose(np.random.default_rng(7)).to_dict()
    assert a != sample_pose(np.random.default_rng(8)).to_dict()


def test_value_noise_is_deterministic_bounded_smooth_and_seeded():
    p = np.random.default_rng(4).uniform(-50, 50, size=(1000, 3))
    n = value_noise(p, 5.0, seed=1)
    np.testing.assert_array_equal(n, value_noise(p, 5.0, seed=1))
    assert n.min() >= -1 and n.max() <= 1 and n.std() > 0.1
    assert np.abs(n - value_noise(p, 5.0, seed=2)).mean() > 0.1
    near = value_noise(p + 0.01, 5.0, seed=1)
    assert np.abs(near - n).max() < 0.05
    assert np.abs(fbm(p, 5.0, 3)).max() <= 1.0


def test_rasterize_uv_finds_the_triangle_and_its_barycentrics():
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    face_id, bary = rasterize_uv(uv, np.array([[0, 1, 2]]), 32)
    centres = (np.arange(32) + 0.5) / 32
    u, v = np.meshgrid(centres, 1.0 - centres)  # row 0 is the top (v = 1)
    inside = u + v < 1.0 - 1.5 / 32
    assert (face_id[inside] == 0).all()
    assert (face_id[u + v > 1.0 + 1.5 / 32] == -1).all()
    rebuilt = np.einsum("nk,kc->nc", bary[inside], uv)
    np.testing.assert_allclose(rebuilt, np.stack([u[inside], v[inside]], 1), atol=1e-9)


def test_tile_uv_places_tiles_row_by_row_with_an_inset():
    corners = np.array([[0.0, 0.0], [1.0, 1.0]])
    t = tile_uv(corners, tile=4, per_side=3, tile_size=100)  # middle tile
    assert (t > 1 / 3).all() and (t < 2 / 3).all()
    first = tile_uv(corners, tile=0, per_side=2, tile_size=100)
    assert first[:, 0].min() > 0 and first[:, 1].max() < 1 and first[:, 1].min() > 0.5
