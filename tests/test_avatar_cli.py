"""``pifuhd avatar`` and ``pifuhd animate`` on the sample photo (needs MediaPipe and Anny).

One avatar at a coarse grid (R = 64) for the whole module: about 15 s on two cores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from pifuhd.avatar.gltf import read_avatar_glb, skinned_vertices
from pifuhd.cli import main

SAMPLE = Path(__file__).parents[1] / "examples" / "person.png"
FILE_TOL_CUBE = 2e-4
"""float32 rest positions, weights and joint poses in the GLB against the float64 mesh."""
FEET_TOL_M = 0.06
"""The rest mesh stands on the body's floor: its lowest point within 6 cm of y = 0."""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, anny_cache: None) -> Iterator[tuple]:
    pytest.importorskip("mediapipe")
    pytest.importorskip("anny")
    root = tmp_path_factory.mktemp("avatar")
    blank = root / "blank.png"
    Image.new("RGB", (256, 256), (128, 128, 128)).save(blank)
    out = root / "out"
    code = main(
        ["avatar", str(SAMPLE), str(blank), "-o", str(out), "-r", "64", "--motions", "walk"]
    )
    yield code, out, blank


def test_avatar_writes_four_files_per_photo_and_reports_a_photo_without_anyone(
    made: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = made
    assert code == 1  # the blank photo failed, the sample did not
    assert sorted(p.name for p in out.iterdir()) == [
        "person_avatar.glb",
        "person_avatar.json",
        "person_canonical.obj",
        "person_posed.obj",
    ]
    info = json.loads((out / "person_avatar.json").read_text())
    assert info["bones"] == 104 and info["clips"] == {"walk": pytest.approx(1.1)}
    assert info["body"]["shape"].keys() >= {"gender", "height", "weight"}


def test_the_glb_in_its_own_pose_is_the_reconstruction(made: tuple) -> None:
    """Skinned as a viewer does and placed back in the cube, the GLB lands on
    ``<stem>_posed.obj``; its rest mesh stands on the floor with the waving hand lowered."""
    _, out, _ = made
    info = json.loads((out / "person_avatar.json").read_text())
    avatar = read_avatar_glb(out / "person_avatar.glb")
    posed = trimesh.load(out / "person_posed.obj", process=False, force="mesh")
    shown_cm = 100.0 * skinned_vertices(avatar, *avatar.pose)
    cube = info["cube_per_cm"] * shown_cm + np.array(info["cube_offset"])
    assert np.abs(cube - posed.vertices).max() < FILE_TOL_CUBE
    canonical = trimesh.load(out / "person_canonical.obj", process=False, force="mesh")
    np.testing.assert_allclose(canonical.vertices, avatar.vertices, atol=1e-6)
    assert abs(canonical.vertices[:, 1].min()) < FEET_TOL_M
    # the sample waves with a hand above the head; in the A-pose the head is the top
    # (8.7 cm lower at R = 64, where the thin raised forearm is partly lost)
    assert shown_cm[:, 1].max() - 100.0 * canonical.vertices[:, 1].max() > 5.0
    walk = avatar.clips[0]
    stride = 100.0 * skinned_vertices(avatar, walk.translations[6], walk.rotations[6])
    assert np.ptp(stride[:, 2]) > np.ptp(100.0 * avatar.vertices[:, 2]) + 20.0  # legs apart


def test_animate_adds_a_clip_and_refuses_a_foreign_glb(
    made: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = made
    target = tmp_path / "waving.glb"
    assert main(["animate", str(out / "person_avatar.glb"), "wave,walk", "-o", str(target)]) == 0
    assert [c.name for c in read_avatar_glb(target).clips] == ["wave", "walk"]
    foreign = tmp_path / "box.glb"
    trimesh.creation.box().export(foreign)
    assert main(["animate", str(foreign), "walk", "-o", str(tmp_path / "x.glb")]) == 1
    assert "box.glb: not a rigged glTF" in capsys.readouterr().err
    assert not (tmp_path / "x.glb").exists()
    assert main(["animate", str(target), "moonwalk", "-o", str(tmp_path / "y.glb")]) == 1
    assert "unknown motion 'moonwalk' (built in: walk, wave)" in capsys.readouterr().err


def test_the_parser_lists_the_built_in_motions() -> None:
    from pifuhd.avatar.cli_args import MOTIONS
    from pifuhd.avatar.motion import CLIPS

    assert ",".join(CLIPS) == MOTIONS


def test_unposed_canonical_mesh_agrees_with_the_pulled_back_one(
    made: tuple, tmp_path: Path
) -> None:
    """``--canonical unpose`` takes the reconstruction back vertex by vertex: its GLB poses
    onto its own posed OBJ (the reconstruction), and its rest mesh lies on the pulled-back one
    (mean distance under 2 cm both ways; measured 1.3 and 1.2 cm at R = 64)."""
    from scipy.spatial import cKDTree

    _, out, _ = made
    code = main(
        [
            "avatar",
            str(SAMPLE),
            "-o",
            str(tmp_path),
            "-r",
            "64",
            "--motions",
            "none",
            "--canonical",
            "unpose",
        ]
    )
    assert code == 0
    info = json.loads((tmp_path / "person_avatar.json").read_text())
    assert info["method"].startswith("the reconstructed mesh unposed") and info["clips"] == {}
    avatar = read_avatar_glb(tmp_path / "person_avatar.glb")
    posed = trimesh.load(tmp_path / "person_posed.obj", process=False, force="mesh")
    cube = info["cube_per_cm"] * 100.0 * skinned_vertices(avatar, *avatar.pose)
    assert np.abs(cube + np.array(info["cube_offset"]) - posed.vertices).max() < FILE_TOL_CUBE
    unposed = trimesh.load(tmp_path / "person_canonical.obj", process=False, force="mesh")
    pulled = trimesh.load(out / "person_canonical.obj", process=False, force="mesh")
    there, _ = cKDTree(unposed.vertices).query(pulled.vertices)
    back, _ = cKDTree(pulled.vertices).query(unposed.vertices)
    assert there.mean() < 0.02 and back.mean() < 0.02, (there.mean(), back.mean())


def test_animate_retargets_a_bvh_and_refuses_a_broken_one(
    made: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_avatar_bvh import FRAMES, MOVES, bvh_text

    _, out, _ = made
    take = tmp_path / "take.bvh"
    take.write_text(bvh_text(FRAMES, MOVES))
    target = tmp_path / "mocap.glb"
    assert main(["animate", str(out / "person_avatar.glb"), str(take), "-o", str(target)]) == 0
    clips = {c.name: c for c in read_avatar_glb(target).clips}
    assert list(clips) == ["walk", "take"] and len(clips["take"].times) == 2
    broken = tmp_path / "broken.bvh"
    broken.write_text("HIERARCHY\nROOT Hips\n{\n")
    assert main(["animate", str(target), str(broken), "-o", str(tmp_path / "z.glb")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {broken}: not a readable BVH file (it ends early); use a Biovision .bvh export"
    ]
    assert not (tmp_path / "z.glb").exists()
