"""Reading 3D scans of people: find subjects, load a mesh with its albedo, normalise it.

A subject is one mesh file (OBJ with MTL and texture, PLY with vertex colours, GLB/glTF) or one
folder holding its mesh. Loading brings it into the subject frame of
:mod:`pifuhd.data.asset`: centimetres, y up, height ``SUBJECT_HEIGHT``, bounding box centred.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from pifuhd.data.asset import SUBJECT_HEIGHT, MeshAsset
from pifuhd.errors import InputError

log = logging.getLogger(__name__)

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf")
UP_AXES = ("auto", "x", "y", "z", "-x", "-y", "-z")
UNITS = {"m": 100.0, "cm": 1.0, "mm": 0.1}
"""Centimetres per unit."""

# Plausible standing heights of people (cm) used to guess the unit of a scan.
_HEIGHT_RANGE_CM = (50.0, 250.0)
_PREFERRED_NAMES = ("mesh", "scan", "model")


class ScanError(InputError):
    """A scan cannot be used (empty, no faces, NaNs, missing texture, unreadable)."""


@dataclass(frozen=True)
class ScanInfo:
    """What loading decided about one scan, recorded in ``subject.json``."""

    source: str
    up: str
    units: str
    height_cm: float
    """Height of the scan along its up axis in cm, before normalisation."""
    scale: float
    """Normalised cm per original cm: ``SUBJECT_HEIGHT / height_cm``."""
    albedo: str
    """'texture', 'vertex_colors' or 'none'."""
    warnings: tuple[str, ...] = ()
    to_subject: tuple[tuple[float, ...], ...] = ()
    """(4, 4) row-major: homogeneous scan-file coordinates -> subject frame (cm), the
    normalisation applied to the vertices (turn to y up, centre the box, scale to 180 cm).
    Empty in ``subject.json`` files of data format 2 and older."""


def find_subjects(root: Path) -> list[tuple[str, Path]]:
    """Subjects under ``root``: (name, mesh path) pairs sorted by name.

    Each mesh file directly in ``root`` is a subject named after its stem; each sub-folder with
    mesh files is a subject named after the folder (its mesh: the only one, or one named
    ``mesh``/``scan``/``model``). A single mesh file as ``root`` is one subject.

    Raises:
        ScanError: if ``root`` does not exist or holds no meshes.
    """
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() not in MESH_SUFFIXES:
            raise ScanError(f"{root}: not a mesh file; use one of {', '.join(MESH_SUFFIXES)}")
        return [(root.stem, root)]
    if not root.is_dir():
        raise ScanError(f"{root}: no such file or folder; check the path")
    found: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_file() and entry.suffix.lower() in MESH_SUFFIXES:
            found[entry.stem] = entry
        elif entry.is_dir():
            mesh = _folder_mesh(entry)
            if mesh is not None:
                found[entry.name] = mesh
    if not found:
        raise ScanError(
            f"{root}: no meshes found; put one {'/'.join(MESH_SUFFIXES)} file (or a folder "
            "with one) per subject there"
        )
    return sorted(found.items())


def _folder_mesh(folder: Path) -> Path | None:
    meshes = sorted(p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    if not meshes:
        return None
    if len(meshes) == 1:
        return meshes[0]
    for name in _PREFERRED_NAMES:
        for mesh in meshes:
            if mesh.stem.lower() == name:
                return mesh
    log.warning("%s: several meshes, using %s", folder, meshes[0].name)
    return meshes[0]


def missing_textures(path: Path) -> list[str]:
    """Texture files an OBJ's material libraries name but that do not exist (empty if fine)."""
    if path.suffix.lower() != ".obj":
        return []
    missing: list[str] = []
    text = path.read_text(errors="replace")
    for lib in re.findall(r"^\s*mtllib\s+(.+?)\s*$", text, flags=re.MULTILINE):
        mtl = path.parent / lib
        if not mtl.is_file():
            missing.append(str(mtl))
            continue
        for line in mtl.read_text(errors="replace").splitlines():
            parts = line.split()
            if parts and parts[0].lower() == "map_kd" and len(parts) > 1:
                image = mtl.parent / parts[-1]
                if not image.is_file():
                    missing.append(str(image))
    return missing


def load_scan(
    path: Path, *, up: str = "auto", units: str = "auto", name: str | None = None
) -> tuple[MeshAsset, ScanInfo]:
    """Load a scan and normalise it into the subject frame.

    Args:
        path: mesh file (.obj/.ply/.glb/.gltf).
        up: the scan's up axis ('x', 'y', 'z', optionally with '-'), or 'auto' (the longest
            extent; a warning when the two longest extents are close, e.g. an arms-out pose).
        units: 'm', 'cm', 'mm' or 'auto' (from the height; a warning when implausible).
        name: subject name (default: the file stem).
    Returns:
        The asset (cm, y up, height 180, bounding box centred) and what was decided.
    Raises:
        ScanError: unreadable file, no faces, non-finite vertices, missing texture files.
    """
    path = Path(path)
    if up not in UP_AXES:
        raise ScanError(f"unknown up axis {up!r}; use one of {', '.join(UP_AXES)}")
    if units != "auto" and units not in UNITS:
        raise ScanError(f"unknown units {units!r}; use auto, {', '.join(UNITS)}")
    missing = missing_textures(path)
    if missing:
        raise ScanError(
            f"{path}: texture {missing[0]} is missing; put it next to the material file"
        )
    mesh = _load_trimesh(path)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0 or len(vertices) == 0:
        raise ScanError(f"{path}: the mesh has no faces; export it as a triangle mesh")
    if not np.isfinite(vertices).all():
        raise ScanError(f"{path}: the mesh has NaN or infinite vertices; repair the scan")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ScanError(f"{path}: face indices out of range; repair the scan")

    warnings: list[str] = []
    axis, sign, up_note = _choose_up(vertices, up)
    if up_note:
        warnings.append(up_note)
    vertices = _to_y_up(vertices, axis, sign)
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    height_units = float(extent[1])
    if height_units <= 0:
        raise ScanError(f"{path}: the mesh is flat along its up axis; check --up")
    unit_name, unit_note = _choose_units(height_units, units)
    if unit_note:
        warnings.append(unit_note)
    height_cm = height_units * UNITS[unit_name]
    scale = SUBJECT_HEIGHT / height_cm
    center = (vertices.max(axis=0) + vertices.min(axis=0)) / 2.0
    factor = SUBJECT_HEIGHT / height_units
    vertices = (vertices - center) * factor
    to_subject = normalisation_matrix(_UP_ROTATIONS[(axis, sign)], center, factor)

    uv, texture, colors, albedo_kind = _albedo(mesh)
    if albedo_kind == "none":
        warnings.append("no texture or vertex colours: uniform grey albedo")
    for note in warnings:
        log.warning("%s: %s", path, note)
    asset = MeshAsset(
        vertices=vertices,
        faces=faces,
        uv=uv,
        texture=texture,
        vertex_colors=colors,
        name=name or path.stem,
    )
    info = ScanInfo(
        source=str(path),
        up=("-" if sign < 0 else "") + "xyz"[axis],
        units=unit_name,
        height_cm=height_cm,
        scale=scale,
        albedo=albedo_kind,
        warnings=tuple(warnings),
        to_subject=tuple(tuple(float(v) for v in row) for row in to_subject),
    )
    return asset, info


def normalisation_matrix(rotation: np.ndarray, center: np.ndarray, factor: float) -> np.ndarray:
    """(4, 4) float64 ``p -> factor * (rotation @ p - center)``: scan file -> subject frame.

    Args:
        rotation: (3, 3) turn to y up; center: (3,) bounding-box centre after the turn (file
            units); factor: subject cm per file unit.
    """
    m = np.eye(4)
    m[:3, :3] = factor * rotation
    m[:3, 3] = -factor * np.asarray(center, dtype=np.float64)
    return m


def _load_trimesh(path: Path) -> trimesh.Trimesh:
    try:
        loaded = trimesh.load(path, process=False)
    except Exception as exc:  # trimesh raises many types for malformed files
        raise ScanError(f"{path}: cannot read the mesh ({exc}); check the file") from exc
    if isinstance(loaded, trimesh.Scene):
        if not loaded.geometry:
            raise ScanError(f"{path}: the file holds no geometry; export the mesh again")
        loaded = loaded.to_geometry()
    if not isinstance(loaded, trimesh.Trimesh):
        raise ScanError(f"{path}: not a triangle mesh (a point cloud?); export faces too")
    return loaded


def _choose_up(vertices: np.ndarray, up: str) -> tuple[int, int, str]:
    """(axis index, sign, warning or '') of the up direction."""
    if up != "auto":
        return "xyz".index(up[-1]), (-1 if up.startswith("-") else 1), ""
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    order = np.argsort(extent)[::-1]
    axis = int(order[0])
    note = ""
    if extent[order[1]] > 0.8 * extent[order[0]]:
        note = (
            f"up axis unsure (extents {extent.round(3).tolist()}): guessed {'xyz'[axis]}; pass --up"
        )
    elif axis == 0:
        note = "the longest extent is x: guessed x up; pass --up if wrong"
    return axis, 1, note


# Proper rotations (det +1, so faces keep their winding) taking each up axis to +y by the
# smallest turn about a coordinate axis: z-up scans that face -y end up facing +z.
_UP_ROTATIONS = {
    (1, 1): np.eye(3),
    (1, -1): np.diag([1.0, -1.0, -1.0]),  # 180 degrees about x
    (2, 1): np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),  # (x, y, z) -> (x, z, -y)
    (2, -1): np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),  # (x, y, z) -> (x, -z, y)
    (0, 1): np.array([[0, -1.0, 0], [1, 0, 0], [0, 0, 1]]),  # (x, y, z) -> (-y, x, z)
    (0, -1): np.array([[0, 1.0, 0], [-1, 0, 0], [0, 0, 1]]),  # (x, y, z) -> (y, -x, z)
}


def _to_y_up(vertices: np.ndarray, axis: int, sign: int) -> np.ndarray:
    """Rotate so that ``sign * axis`` becomes +y (see ``_UP_ROTATIONS``)."""
    return vertices @ _UP_ROTATIONS[(axis, sign)].T


def _choose_units(height: float, units: str) -> tuple[str, str]:
    if units != "auto":
        return units, ""
    for name in ("m", "cm", "mm"):
        cm = height * UNITS[name]
        if _HEIGHT_RANGE_CM[0] <= cm <= _HEIGHT_RANGE_CM[1]:
            return name, ""
    return "cm", f"units unsure (height {height:.4g} in file units): assumed cm; pass --units"


def _albedo(
    mesh: trimesh.Trimesh,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, str]:
    visual = mesh.visual
    if visual.kind == "texture" and getattr(visual, "uv", None) is not None:
        material = visual.material
        simple = material.to_simple() if hasattr(material, "to_simple") else material
        image = getattr(simple, "image", None)
        if image is not None:
            texture = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
            uv = np.asarray(visual.uv, dtype=np.float32)
            return uv, texture, None, "texture"
        diffuse = getattr(simple, "diffuse", None)
        if diffuse is not None:
            rgb = np.asarray(diffuse, dtype=np.float32)[:3] / 255.0
            colors = np.broadcast_to(rgb, (len(mesh.vertices), 3)).copy()
            return None, None, colors, "vertex_colors"
    if visual.kind in ("vertex", "face"):
        colors = np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
        return None, None, colors, "vertex_colors"
    return None, None, None, "none"
