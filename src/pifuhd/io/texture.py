"""A UV-mapped texture for a vertex-coloured mesh: an atlas from ``xatlas`` (the optional
``texture`` extra) with the vertex colours baked into an image, written as OBJ + MTL + PNG.

UV convention (OBJ, trimesh): u runs left to right, v bottom to top; texel (row r, column c)
of an H x W image has its centre at u = (c + 0.5) / W, v = 1 - (r + 0.5) / H. Baking
interpolates the vertex colours barycentrically at every texel centre inside a triangle of the
atlas; texels outside every triangle (gutters) take the colour of the nearest covered texel, so
bilinear filtering at chart borders does not bleed black.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh
from PIL import Image
from scipy import ndimage

from pifuhd.errors import PifuhdError

CANDIDATES_PER_CHUNK = 1 << 22
"""Texel candidates tested at once while baking (bounds the memory: ~100 MB)."""


@dataclass
class TexturedMesh:
    """A mesh with a UV atlas. Seams duplicate vertices, so every array is per UV vertex."""

    vertices: np.ndarray
    """(V', 3) float64 positions."""
    faces: np.ndarray
    """(F, 3) int64 indices into vertices, uv and normals (the original faces' order)."""
    uv: np.ndarray
    """(V', 2) float64 texture coordinates in [0, 1] (v up)."""
    normals: np.ndarray
    """(V', 3) float64 vertex normals (those of the source vertices)."""
    image: np.ndarray
    """(H, W, 3) uint8 sRGB texture, row 0 at v = 1."""
    source: np.ndarray
    """(V',) int64 index of each vertex in the source mesh."""


def _xatlas() -> Any:
    try:
        import xatlas
    except ImportError:
        raise PifuhdError(
            "--uv needs the xatlas package: pip install 'pifuhd[texture]' (or pip install xatlas)"
        ) from None
    return xatlas


def uv_atlas(mesh: trimesh.Trimesh, size: int = 1024, padding: int = 2) -> TexturedMesh:
    """Chart and pack ``mesh`` with xatlas into one atlas of about ``size`` x ``size`` texels
    (xatlas picks the texel density and so the exact sides, typically 0.9-1.6 x ``size``) and
    bake its vertex colours (``mesh.visual.vertex_colors``) into the texture."""
    if mesh.visual.kind != "vertex":
        raise PifuhdError("a UV texture needs a mesh with vertex colours (use --texture)")
    xatlas = _xatlas()
    atlas = xatlas.Atlas()
    atlas.add_mesh(
        np.ascontiguousarray(mesh.vertices, dtype=np.float32),
        np.ascontiguousarray(mesh.faces, dtype=np.uint32),
    )
    pack = xatlas.PackOptions()
    pack.resolution = int(size)
    pack.padding = int(padding)
    atlas.generate(pack_options=pack)
    if atlas.atlas_count != 1:  # uv of several atlases would overlap in one image
        raise PifuhdError(f"xatlas packed the mesh into {atlas.atlas_count} atlases, not one")
    mapping, faces, uv = atlas[0]
    source = mapping.astype(np.int64)
    colors = np.asarray(mesh.visual.vertex_colors)[source, :3].astype(np.float64) / 255.0
    uv = uv.astype(np.float64)
    image = bake_vertex_colors(uv, faces.astype(np.int64), colors, atlas.height, atlas.width)
    return TexturedMesh(
        vertices=np.asarray(mesh.vertices, dtype=np.float64)[source],
        faces=faces.astype(np.int64),
        uv=uv,
        normals=np.asarray(mesh.vertex_normals, dtype=np.float64)[source],
        image=np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8),
        source=source,
    )


def bake_vertex_colors(
    uv: np.ndarray, faces: np.ndarray, colors: np.ndarray, height: int, width: int
) -> np.ndarray:
    """Rasterise per-vertex ``colors`` (V, C) float over triangles ``faces`` (F, 3) placed at
    ``uv`` (V, 2) into a (height, width, C) float64 image (convention: module docstring).

    Texel centres inside a triangle (barycentric weights >= -1e-9) get the barycentric mix of
    its corners' colours; the others take the nearest covered texel's value. Triangles are
    processed in groups of similar texel extent, each group vectorised.
    """
    channels = colors.shape[1]
    image = np.zeros((height, width, channels))
    covered = np.zeros((height, width), dtype=bool)
    px = np.stack([uv[:, 0] * width - 0.5, (1.0 - uv[:, 1]) * height - 0.5], axis=1)
    corners = px[faces]  # (F, 3, 2): texel coordinates, centres at integers
    low = np.floor(corners.min(axis=1)).astype(np.int64)
    extent = np.ceil(corners.max(axis=1)).astype(np.int64) - low + 1
    side = np.maximum(extent.max(axis=1), 1)
    buckets = np.ceil(np.log2(side)).astype(np.int64)
    for bucket in np.unique(buckets):
        k = 1 << int(bucket)
        chosen = np.flatnonzero(buckets == bucket)
        step = max(1, CANDIDATES_PER_CHUNK // (k * k))
        for start in range(0, len(chosen), step):
            ids = chosen[start : start + step]
            _rasterise(ids, k, low, corners, faces, colors, image, covered)
    if covered.any() and not covered.all():
        _, (rows, cols) = ndimage.distance_transform_edt(~covered, return_indices=True)
        image = image[rows, cols]
    return image


def _rasterise(
    ids: np.ndarray,
    k: int,
    low: np.ndarray,
    corners: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray,
    image: np.ndarray,
    covered: np.ndarray,
) -> None:
    """Write the texels of triangles ``ids`` (bounding boxes at most k x k) into ``image``."""
    height, width = covered.shape
    offsets = np.stack(np.meshgrid(np.arange(k), np.arange(k), indexing="xy"), -1).reshape(-1, 2)
    texels = low[ids, None, :] + offsets[None]  # (n, k*k, 2) integer (x, y)
    a, b, c = corners[ids, 0, None], corners[ids, 1, None], corners[ids, 2, None]
    v0, v1, v2 = b - a, c - a, texels - a
    den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]  # (n, 1), twice the signed area
    safe = np.where(np.abs(den) > 1e-12, den, 1.0)
    w1 = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / safe
    w2 = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / safe
    w0 = 1.0 - w1 - w2
    x, y = texels[..., 0], texels[..., 1]
    inside = (np.abs(den) > 1e-12) & (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
    inside &= (x >= 0) & (x < width) & (y >= 0) & (y < height)
    tri, cand = np.nonzero(inside)
    face_colors = colors[faces[ids]]  # (n, 3, C)
    weights = np.stack([w0[tri, cand], w1[tri, cand], w2[tri, cand]], axis=1)
    values = np.einsum("nk,nkc->nc", weights, face_colors[tri])
    image[y[tri, cand], x[tri, cand]] = values
    covered[y[tri, cand], x[tri, cand]] = True


def textured_obj_files(textured: TexturedMesh, stem: str, digits: int = 6) -> dict[str, bytes]:
    """``{stem}.obj``, ``{stem}.mtl`` and ``{stem}.png`` of a textured mesh (1-based OBJ
    indices; position, texture coordinate and normal share one index per vertex)."""
    fmt = f"{{:.{digits}f}}"
    lines = [f"mtllib {stem}.mtl", "usemtl albedo"]
    lines += ["v " + " ".join(fmt.format(x) for x in row) for row in textured.vertices]
    lines += ["vt " + " ".join(fmt.format(x) for x in row) for row in textured.uv]
    lines += ["vn " + " ".join(fmt.format(x) for x in row) for row in textured.normals]
    lines += ["f " + " ".join(f"{i}/{i}/{i}" for i in row) for row in (textured.faces + 1).tolist()]
    mtl = f"newmtl albedo\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {stem}.png\n"
    return {
        f"{stem}.obj": ("\n".join(lines) + "\n").encode(),
        f"{stem}.mtl": mtl.encode(),
        f"{stem}.png": _png_bytes(textured.image),
    }


def _png_bytes(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> the bytes of a PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
