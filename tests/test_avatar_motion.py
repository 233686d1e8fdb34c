"""Built-in motions on the Anny rig, and a synthetic person's avatar as glTF (needs Anny)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh

from pifuhd.avatar.gltf import read_avatar_glb, skinned_vertices, write_avatar_glb
from pifuhd.avatar.rig import inverse_bind_matrices, world_matrices

SHAPE = {"gender": 0.3, "age": 0.6, "muscle": 0.5, "weight": 0.6, "height": 0.5, "proportions": 0.5}
POSED_MEAN_CM, POSED_MAX_CM = 0.05, 2.0
"""glTF keeps four of Anny's up to nine influences per vertex. Measured on person_00003 of
the training scans: mean 0.018 cm, max 0.96 cm from the stored posed mesh."""


@pytest.fixture(scope="module")
def person(tmp_path_factory: pytest.TempPathFactory, anny_cache: None) -> Iterator[Path]:
    from pifuhd.synth.people import make_person, write_person

    folder = tmp_path_factory.mktemp("people") / "person_00000"
    write_person(make_person(0, atlas_size=256), folder)
    yield folder


def test_walk_clip_moves_the_joints_as_anny_poses_them(anny_cache: None) -> None:
    """Each keyframe's joint nodes reproduce Anny's own bone transforms for that pose, and the
    legs alternate: the left ankle is in front at a quarter stride, behind at three quarters."""
    from pifuhd.avatar.motion import anny_rig, builtin_clip, metres, walk_pose
    from pifuhd.body.anny import anny_body

    rig = anny_rig(SHAPE)
    clip = builtin_clip("walk", SHAPE, rig, frames=4)
    assert clip.translations.shape == (5, len(rig.labels), 3)
    np.testing.assert_allclose(clip.times, np.linspace(0.0, 1.1, 5))
    np.testing.assert_allclose(clip.rotations[-1], clip.rotations[0])  # a loop
    ankles = []
    for k in range(4):
        body = anny_body(SHAPE, walk_pose(k / 4))
        joint_mats = world_matrices(rig, clip.translations[k], clip.rotations[k])
        np.testing.assert_allclose(
            joint_mats @ inverse_bind_matrices(rig), metres(body.transforms), atol=1e-6
        )
        ankles.append(body.joints["ankle.L"][2] - body.joints["ankle.R"][2])
    assert ankles[1] > 15.0 and ankles[3] < -15.0, ankles  # cm, +z is forward


def test_unknown_motion_lists_the_built_in_ones(anny_cache: None) -> None:
    from pifuhd.avatar.motion import builtin_clip

    with pytest.raises(ValueError, match="built in: walk, wave"):
        builtin_clip("moonwalk", SHAPE, None)  # type: ignore[arg-type]


def test_person_avatar_glb_shows_the_person_in_their_pose(person: Path, tmp_path: Path) -> None:
    """The GLB of a synthetic person, skinned as a viewer does, lands on the person's posed
    mesh; its colours come from the texture and its walk clip plays from the rest mesh."""
    from pifuhd.avatar.build import person_avatar

    avatar = person_avatar(person, motions=("walk",), frames=4)
    back = read_avatar_glb(write_avatar_glb(avatar, tmp_path / "p.glb"))
    posed = trimesh.load(person / "mesh.obj", process=False, force="mesh").vertices
    err = np.linalg.norm(100.0 * skinned_vertices(back, *back.pose) - posed, axis=1)
    assert err.mean() < POSED_MEAN_CM and err.max() < POSED_MAX_CM, (err.mean(), err.max())
    assert back.colors is not None and back.colors.std(axis=0).min() > 0.02
    walk = back.clips[0]
    frame = 100.0 * skinned_vertices(back, walk.translations[1], walk.rotations[1])
    assert np.ptp(frame[:, 1]) > 140.0  # a standing person, cm
    assert np.linalg.norm(frame - posed, axis=1).mean() > 2.0  # and a different pose
    assert back.extras["anny_shape"] == pytest.approx(avatar.extras["anny_shape"])


def test_pulling_back_the_posed_body_gives_the_rest_body(anny_cache: None) -> None:
    """With the posed body itself as the photo's occupancy, the canonical surface is the rest
    body: its vertices 1.5 cm from it on average, 12 cm at most (R = 96 over a 2 m box, about
    2 cm voxels; measured 0.58 and 9.0 cm; without the parts' agreement check the raised arms
    leave ghosts above the shoulders: 3.8 and 25.9 cm), both arms back down."""
    from pifuhd.avatar.canonical import canonical_surface
    from pifuhd.avatar.rigging import CubePlacement
    from pifuhd.body.anny import anny_body
    from pifuhd.body.poses import ArmPose, Pose
    from pifuhd.data.sample import winding_number

    raised = Pose("raised", arms=(ArmPose(150.0, 10.0, 0.0, 30.0), ArmPose(150.0, 10.0, 0.0, 30.0)))
    body = anny_body(SHAPE, raised)
    placement = CubePlacement(0.01, np.array([0.0, -0.9, 0.0]))
    posed_cube = placement.to_cube(body.vertices)

    def occupancy(points: np.ndarray) -> np.ndarray:
        return (winding_number(posed_cube, body.faces, points) > 0.5).astype(np.float32)

    vertices, faces = canonical_surface(occupancy, body, placement, resolution=96)
    import igl

    sq, _, _ = igl.point_mesh_squared_distance(vertices, body.rest_vertices, body.faces)
    dist = np.sqrt(sq)
    assert dist.mean() < 1.5 and dist.max() < 12.0, (dist.mean(), dist.max())
    wrist_heights = [body.rest_joints[f"wrist.{s}"][1] for s in "LR"]
    assert vertices[:, 1].max() < max(wrist_heights) + 80.0  # no raised arm left above the head
    assert len(faces) > 5000
