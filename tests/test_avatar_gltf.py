"""Rigged glTF avatars: skinning in the file equals linear blend skinning, clips, validation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pifuhd.avatar.gltf import Clip, read_avatar_glb, skinned_vertices, write_avatar_glb
from pifuhd.avatar.rig import Rig, dense_influences, local_poses, world_matrices
from pifuhd.body.skinned import skin
from pifuhd.errors import PifuhdError

REPO = Path(__file__).resolve().parents[1]
SKIN_TOL_M = 1e-5
"""float32 positions, weights and quaternions in the file against float64 skinning."""


def _rigid(rng: np.random.Generator, n: int, degrees: float = 60.0) -> np.ndarray:
    out = np.tile(np.eye(4), (n, 1, 1))
    out[:, :3, :3] = Rotation.from_rotvec(
        rng.normal(size=(n, 3)) * np.radians(degrees) / np.sqrt(3)
    ).as_matrix()
    out[:, :3, 3] = rng.normal(scale=0.2, size=(n, 3))
    return out


def _toy_avatar(seed: int = 0):
    """A branching 6-bone rig, 200 random vertices with 6 random influences each (cm)."""
    from pifuhd.avatar.build import skinned_avatar

    rng = np.random.default_rng(seed)
    rig = Rig(
        ("root", "spine", "arm.L", "hand.L", "arm.R", "leg"),
        (-1, 0, 1, 2, 1, 0),
        rng.normal(scale=0.5, size=(6, 3)),
    )
    rest_cm = rng.normal(scale=50.0, size=(200, 3))
    weights = rng.random((200, 6)) ** 3
    weights /= weights.sum(axis=1, keepdims=True)
    faces = rng.integers(0, 200, size=(100, 3))
    transforms_cm = _rigid(rng, 6)
    transforms_cm[:, :3, 3] *= 100.0
    clip_frames = _rigid(rng, 3 * 6).reshape(3, 6, 4, 4)
    keys = [local_poses(rig, t) for t in clip_frames]
    clip = Clip(
        "test",
        np.array([0.0, 0.5, 1.0]),
        np.stack([k[0] for k in keys]),
        np.stack([k[1] for k in keys]),
    )
    avatar = skinned_avatar(
        rig,
        rest_cm,
        faces,
        weights,
        transforms_cm,
        colors=rng.random((200, 3)),
        clips=[clip],
        extras={"body_model": "toy"},
    )
    return avatar, transforms_cm, clip_frames


def test_glb_skinning_equals_linear_blend_skinning(tmp_path: Path) -> None:
    """The file's joints, inverse bind matrices and node pose skin the rest mesh exactly as
    ``skin`` does with the bone transforms (four influences); clips and colours round-trip."""
    avatar, transforms_cm, clip_frames = _toy_avatar()
    path = write_avatar_glb(avatar, tmp_path / "toy.glb")
    back = read_avatar_glb(path)
    assert back.rig.labels == avatar.rig.labels and back.rig.parents == avatar.rig.parents
    np.testing.assert_allclose(back.rig.heads, avatar.rig.heads, atol=1e-6)
    dense = dense_influences(back.joints, back.weights, 6)
    assert np.count_nonzero(dense, axis=1).max() == 4
    expected = skin(avatar.vertices, dense, transforms_cm * [1, 1, 1, 0.01])
    got = skinned_vertices(back, *back.pose)
    assert np.abs(got - expected).max() < SKIN_TOL_M
    for k, frame in enumerate(clip_frames):
        clip = back.clips[0]
        posed = skinned_vertices(back, clip.translations[k], clip.rotations[k])
        assert np.abs(posed - skin(avatar.vertices, dense, frame)).max() < SKIN_TOL_M
    np.testing.assert_allclose(back.colors, avatar.colors, atol=1e-6)
    np.testing.assert_array_equal(back.faces, avatar.faces)
    assert back.extras == {"body_model": "toy"} and back.clips[0].name == "test"


def test_world_matrices_invert_local_poses() -> None:
    rng = np.random.default_rng(3)
    avatar, _, _ = _toy_avatar(1)
    transforms = _rigid(rng, 6)
    world = world_matrices(avatar.rig, *local_poses(avatar.rig, transforms))
    heads = np.tile(np.eye(4), (6, 1, 1))
    heads[:, :3, 3] = avatar.rig.heads
    np.testing.assert_allclose(world, transforms @ heads, atol=1e-12)


def _validator() -> tuple[str, dict[str, str]] | None:
    """``node`` and an environment in which ``require('gltf-validator')`` resolves, or None
    (``.ci/run`` installs the validator into ``.ci/js`` when npm is present)."""
    node = shutil.which("node")
    if node is None:
        return None
    env = dict(os.environ)
    paths = [str(REPO / ".ci" / "js" / "node_modules"), env.get("NODE_PATH", "")]
    env["NODE_PATH"] = os.pathsep.join(p for p in paths if p)
    probe = subprocess.run(
        [node, "-e", "require.resolve('gltf-validator')"], env=env, capture_output=True
    )
    return (node, env) if probe.returncode == 0 else None


VALIDATE_JS = """
const v = require('gltf-validator');
const data = new Uint8Array(require('fs').readFileSync(process.argv[1]));
v.validateBytes(data).then(r => console.log(JSON.stringify(r.issues)));
"""


def test_glb_passes_the_khronos_validator_or_a_structure_check(tmp_path: Path) -> None:
    """With Node and gltf-validator: no errors and no warnings. Without: the structure a
    validator would check, read with pygltflib (counts, bounds, normalised weights)."""
    import pygltflib

    avatar, _, _ = _toy_avatar(2)
    path = write_avatar_glb(avatar, tmp_path / "toy.glb")
    found = _validator()
    if found is not None:
        node, env = found
        out = subprocess.run(
            [node, "-e", VALIDATE_JS, str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        issues = json.loads(out.stdout)
        assert issues["numErrors"] == 0, issues["messages"]
        assert issues["numWarnings"] == 0, issues["messages"]
        return
    doc = pygltflib.GLTF2().load_binary(str(path))
    skin_ = doc.skins[0]
    assert len(skin_.joints) == 6 and doc.accessors[skin_.inverseBindMatrices].count == 6
    prim = doc.meshes[0].primitives[0]
    pos = doc.accessors[prim.attributes.POSITION]
    np.testing.assert_allclose(pos.min, avatar.vertices.min(axis=0), atol=1e-6)
    assert doc.accessors[prim.indices].count == 3 * len(avatar.faces)
    back = read_avatar_glb(path)
    np.testing.assert_allclose(back.weights.sum(axis=1), 1.0, atol=1e-6)
    assert doc.scenes[0].nodes[0] == 0 and doc.nodes[0].translation is None


def test_reading_a_file_that_is_not_an_avatar_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "photo.glb"
    bad.write_text("not a glb")
    with pytest.raises(PifuhdError, match=r"photo\.glb: not a rigged glTF"):
        read_avatar_glb(bad)


def test_person_avatar_needs_a_person_folder(tmp_path: Path) -> None:
    from pifuhd.avatar.build import person_avatar

    with pytest.raises(PifuhdError, match=r"missing rest\.obj, avatar\.npz, person\.json"):
        person_avatar(tmp_path)
