"""Mesh export: OBJ (with vertex normals and colours), binary PLY or GLB, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, cast

import trimesh

from pifuhd.io.atomic import atomic_write
from pifuhd.io.obj import encode_obj, write_obj

MeshFormat = Literal["obj", "ply", "glb"]
MESH_FORMATS: tuple[str, ...] = ("obj", "ply", "glb")

# Keyword arguments for trimesh's exporter of each format.
_EXPORT_OPTIONS: dict[str, dict[str, object]] = {
    "obj": {"include_normals": True, "include_color": True, "include_texture": False},
    "ply": {"encoding": "binary", "vertex_normal": True},
    "glb": {"include_normals": True},
}


def mesh_format(path: str | os.PathLike[str], fmt: str | None = None) -> MeshFormat:
    """The export format: ``fmt`` if given, otherwise the file extension, lower-cased.

    Raises:
        ValueError: if the format is not one of obj, ply, glb.
    """
    name = fmt if fmt is not None else Path(path).suffix.lstrip(".")
    name = name.lower()
    if name not in MESH_FORMATS:
        raise ValueError(
            f"cannot save mesh to {os.fspath(path)!r}: unknown format {name!r} "
            f"(use one of {', '.join(MESH_FORMATS)})"
        )
    return cast(MeshFormat, name)


def encode_mesh(mesh: trimesh.Trimesh, fmt: MeshFormat) -> bytes:
    """Serialise a mesh to the bytes of an OBJ (text), binary PLY or GLB file.

    OBJ carries ``vn`` vertex normals, and per-vertex colours (``v x y z r g b``) when the mesh
    has them (written by ``pifuhd.io.obj``, vectorised); PLY carries normals and vertex colours
    as properties.
    """
    if fmt == "obj":
        colors = mesh.visual.vertex_colors if mesh.visual.kind == "vertex" else None
        return encode_obj(mesh.vertices, mesh.faces, mesh.vertex_normals, colors)
    data = mesh.export(file_type=fmt, **_EXPORT_OPTIONS[fmt])
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    On any failure the temporary file is removed and an existing ``path`` is left untouched.
    The file gets mode 0o644 (``mkstemp`` would leave it 0o600).
    """
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def save_mesh(
    mesh: trimesh.Trimesh,
    path: str | os.PathLike[str],
    fmt: MeshFormat | None = None,
) -> Path:
    """Save a mesh as OBJ, binary PLY or GLB, atomically.

    The file is written under a temporary name beside ``path`` (OBJ streamed block by block,
    PLY and GLB encoded in memory first) and renamed, so a failure never leaves a partial
    file. Missing parent folders are created.

    Args:
        mesh: the mesh; vertex positions are written as they are (no frame change).
        path: the output file.
        fmt: "obj", "ply" or "glb"; None takes it from the extension of ``path``.

    Returns:
        The written path.

    Raises:
        ValueError: if the format is unknown.
    """
    out = Path(path)
    name = mesh_format(out, fmt)
    if name == "obj":
        colors = mesh.visual.vertex_colors if mesh.visual.kind == "vertex" else None
        with atomic_write(out) as tmp, tmp.open("wb") as file:
            write_obj(file, mesh.vertices, mesh.faces, mesh.vertex_normals, colors)
        return out
    data = encode_mesh(mesh, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, data)
    return out
