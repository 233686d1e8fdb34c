"""Mesh export: round trips through OBJ, PLY and GLB, and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

import pifuhd.io.mesh as mesh_io
from pifuhd.geometry.grid import evaluate_dense
from pifuhd.geometry.marching import extract_mesh
from pifuhd.io.mesh import save_mesh

POSITION_ATOL = 1e-5


def _sphere(points: np.ndarray) -> np.ndarray:
    dist = np.linalg.norm(points.astype(np.float64), axis=1)
    return (1.0 / (1.0 + np.exp(-20.0 * (0.5 - dist)))).astype(np.float32)


@pytest.fixture(scope="module")
def mesh() -> trimesh.Trimesh:
    return extract_mesh(evaluate_dense(_sphere, 24))


@pytest.fixture
def coloured(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    out = mesh.copy()
    rgb = np.round((out.vertices + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    out.visual.vertex_colors = np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], 1)
    return out


def _load(path: Path) -> trimesh.Trimesh:
    return trimesh.load(path, process=False, force="mesh")


@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_round_trip_keeps_vertices_and_faces(tmp_path: Path, mesh: trimesh.Trimesh, fmt: str):
    path = save_mesh(mesh, tmp_path / f"out.{fmt}")
    assert path == tmp_path / f"out.{fmt}" and path.is_file()
    loaded = _load(path)
    assert len(loaded.vertices) == len(mesh.vertices)
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, rtol=0, atol=POSITION_ATOL)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)


@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_round_trip_keeps_vertex_colours(tmp_path: Path, coloured: trimesh.Trimesh, fmt: str):
    loaded = _load(save_mesh(coloured, tmp_path / f"out.{fmt}"))
    np.testing.assert_array_equal(loaded.visual.vertex_colors, coloured.visual.vertex_colors)


def test_obj_has_one_normal_per_vertex(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    lines = save_mesh(mesh, tmp_path / "out.obj").read_text().splitlines()
    normals = np.array([[float(v) for v in ln.split()[1:]] for ln in lines if ln.startswith("vn ")])
    assert normals.shape == mesh.vertices.shape
    np.testing.assert_allclose(normals, mesh.vertex_normals, atol=5e-7)  # 6 decimals
    assert any(ln.startswith("f ") and "//" in ln for ln in lines)


def test_ply_is_binary(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    head = save_mesh(mesh, tmp_path / "out.ply").read_bytes()[:40]
    assert head.startswith(b"ply\nformat binary_little_endian")


def test_format_argument_and_extension_case(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    head = save_mesh(mesh, tmp_path / "out.mesh", fmt="ply").read_bytes()[:4]
    assert head == b"ply\n"
    assert save_mesh(mesh, tmp_path / "UPPER.GLB").read_bytes()[:4] == b"glTF"


def test_unknown_format_is_one_clear_error(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    with pytest.raises(ValueError, match=r"unknown format 'stl' \(use one of obj, ply, glb\)"):
        save_mesh(mesh, tmp_path / "out.stl")
    assert list(tmp_path.iterdir()) == []


def test_creates_missing_folders(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    assert save_mesh(mesh, tmp_path / "a" / "b" / "out.ply").is_file()


@pytest.mark.parametrize("fmt", ["obj", "ply"])
def test_failing_exporter_leaves_no_file(tmp_path, mesh, monkeypatch, fmt: str) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(trimesh.Trimesh, "export", broken)  # PLY and GLB
    monkeypatch.setattr(mesh_io, "write_obj", broken)  # OBJ: pifuhd.io.obj
    with pytest.raises(RuntimeError, match="exporter failed"):
        save_mesh(mesh, tmp_path / f"out.{fmt}")
    assert list(tmp_path.iterdir()) == []


def test_failing_write_keeps_the_old_file_and_no_temporary(tmp_path, mesh, monkeypatch) -> None:
    target = tmp_path / "out.ply"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(mesh_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_mesh(mesh, target)
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.ply"]
