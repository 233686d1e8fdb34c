"""Reading scans: subjects found, formats with albedo, units and up axis, bad meshes refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from pifuhd.data.asset import SUBJECT_HEIGHT
from pifuhd.data.scan import ScanError, find_subjects, load_scan

TOL = 1e-6


def person_box(height: float = 1.75) -> trimesh.Trimesh:
    """A standing box 'person' in metres, y up, feet at 0, with random UVs."""
    box = trimesh.creation.box(extents=(0.5, height, 0.3))
    box.apply_translation([0.0, height / 2, 0.0])
    return box


def write_textured_obj(folder: Path, name: str = "mesh") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    mesh = person_box()
    uv = np.stack([mesh.vertices[:, 0] + 0.5, mesh.vertices[:, 1] / 1.75], axis=1)
    texture = Image.new("RGB", (4, 4), (200, 30, 40))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=texture)
    path = folder / f"{name}.obj"
    mesh.export(path)
    return path


def test_textured_obj_normalised_to_subject_frame(tmp_path: Path) -> None:
    path = write_textured_obj(tmp_path / "alice")
    asset, info = load_scan(path)
    extent = asset.vertices.max(0) - asset.vertices.min(0)
    assert extent[1] == pytest.approx(SUBJECT_HEIGHT, abs=TOL)
    assert np.abs(asset.vertices.max(0) + asset.vertices.min(0)).max() < TOL  # centred
    assert extent[0] == pytest.approx(0.5 / 1.75 * SUBJECT_HEIGHT, rel=1e-6)
    assert info.units == "m" and info.up == "y" and info.albedo == "texture"
    assert info.height_cm == pytest.approx(175.0)
    assert info.scale == pytest.approx(180.0 / 175.0)
    albedo = asset.albedo(np.array([0, 1]), np.full((2, 3), 1 / 3))
    np.testing.assert_allclose(albedo, [[200 / 255, 30 / 255, 40 / 255]] * 2, atol=1e-6)


def test_z_up_in_millimetres_with_vertex_colours(tmp_path: Path) -> None:
    mesh = person_box()
    mesh.apply_scale(1000.0)  # mm
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # y -> z
    mesh.visual.vertex_colors = np.tile([10, 200, 30, 255], (len(mesh.vertices), 1))
    path = tmp_path / "bob.ply"
    mesh.export(path)
    asset, info = load_scan(path)
    assert info.up == "z" and info.units == "mm" and info.albedo == "vertex_colors"
    extent = asset.vertices.max(0) - asset.vertices.min(0)
    np.testing.assert_allclose(extent, np.array([0.5, 1.75, 0.3]) / 1.75 * 180.0, rtol=1e-6)
    # a proper rotation keeps the faces wound outward: positive volume
    assert trimesh.Trimesh(asset.vertices, asset.faces, process=False).volume > 0
    np.testing.assert_allclose(asset.vertex_colors[0], [10 / 255, 200 / 255, 30 / 255])


def test_explicit_down_axis_flips_upside_down_scan(tmp_path: Path) -> None:
    mesh = person_box()
    mesh.vertices[:, 1] *= -1  # head at -y
    mesh.faces = mesh.faces[:, ::-1]
    marker = np.argmin(mesh.vertices[:, 1])  # a head vertex
    path = tmp_path / "upside.glb"
    mesh.export(path)
    asset, info = load_scan(path, up="-y")
    assert info.up == "-y"
    assert asset.vertices[marker, 1] == pytest.approx(90.0, abs=1e-3)


def test_find_subjects_files_and_folders(tmp_path: Path) -> None:
    write_textured_obj(tmp_path / "scans" / "alice")
    person_box().export(tmp_path / "scans" / "bob.ply")
    (tmp_path / "scans" / "notes.txt").write_text("not a mesh")
    (tmp_path / "scans" / "empty_folder").mkdir()
    subjects = find_subjects(tmp_path / "scans")
    assert [name for name, _ in subjects] == ["alice", "bob"]
    assert subjects[0][1].name == "mesh.obj"


def test_find_subjects_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="no such file"):
        find_subjects(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanError, match="no meshes found"):
        find_subjects(tmp_path / "empty")


def test_bad_meshes_give_one_line_errors(tmp_path: Path) -> None:
    obj = write_textured_obj(tmp_path / "tex")
    for png in (tmp_path / "tex").glob("*.png"):
        png.unlink()
    with pytest.raises(ScanError, match=r"texture .* is missing"):
        load_scan(obj)

    nan = tmp_path / "nan.obj"
    nan.write_text("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n")
    with pytest.raises(ScanError, match="NaN"):
        load_scan(nan)

    points = tmp_path / "points.obj"
    points.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(ScanError, match=r"no faces|not a triangle mesh|no geometry"):
        load_scan(points)

    empty = tmp_path / "empty.obj"
    empty.write_text("")
    with pytest.raises(ScanError):
        load_scan(empty)

    garbage = tmp_path / "garbage.glb"
    garbage.write_bytes(b"\x00not a glb at all")
    with pytest.raises(ScanError, match=r"garbage\.glb"):
        load_scan(garbage)


def test_unsure_up_axis_and_units_warn(tmp_path: Path) -> None:
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    path = tmp_path / "cube.ply"
    cube.export(path)
    _, info = load_scan(path, units="auto")
    assert any("up axis unsure" in w for w in info.warnings)
    assert info.units == "m"
    assert any("no texture" in w for w in info.warnings)
    huge = trimesh.creation.box(extents=(1.0, 40.0, 1.0))
    huge.export(path)
    _, info = load_scan(path)
    assert any("units unsure" in w for w in info.warnings)
