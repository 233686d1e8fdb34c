"""Front and back normal maps of a body mesh, seen orthographically along the cube's z axis.

The body-guided normal nets read them beside the photo (ICON, Xiu et al., CVPR 2022: the
fitted body's normal renders guide the clothed normal prediction; the PIFuHD paper names body
priors as future work). The front map is the body's surface nearest the viewer (largest z),
the back map the farthest, each the interpolated vertex normal there, in the cube frame (x
right, y up, z toward the viewer), as the rendered training normal maps
(``pifuhd.data.render``): the same pixel centres, zero where the body does not cover a pixel.
Rays are cast with trimesh (Embree when installed): about 0.1 s for a 512 x 512 pair.
"""

from __future__ import annotations

import numpy as np
import trimesh

from pifuhd.data.asset import pixel_centers


def _unit(vectors: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(length, 1e-12)


def body_normal_maps(vertices: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """(2, 3, size, size) float32 [front, back] normal maps of a mesh in the cube frame.

    Args:
        vertices: (V, 3) the body in the cube (the crop's frame: x right, y up, z toward the
            viewer); faces: (F, 3) indices.
        size: the map's side in pixels (row 0 at y = +1, column 0 at x = -1).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    maps = np.zeros((2, 3, size * size), np.float32)
    if len(faces) == 0:
        return maps.reshape(2, 3, size, size)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    normals = _unit(np.asarray(mesh.vertex_normals, dtype=np.float64))
    centers = pixel_centers(size)
    low, high = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
    cols = np.nonzero((centers >= low[0]) & (centers <= high[0]))[0]
    rows = np.nonzero((-centers >= low[1]) & (-centers <= high[1]))[0]
    if len(cols) == 0 or len(rows) == 0:
        return maps.reshape(2, 3, size, size)
    row_grid, col_grid = np.meshgrid(rows, cols, indexing="ij")
    flat = (row_grid * size + col_grid).ravel()
    far = float(np.abs(vertices[:, 2]).max()) + 1.0
    for k, toward in enumerate((-1.0, 1.0)):  # front: rays travel toward -z from z = +far
        origins = np.stack(
            [
                centers[col_grid.ravel()],
                -centers[row_grid.ravel()],
                np.full(flat.shape, -toward * far),
            ],
            axis=1,
        )
        direction = np.broadcast_to(np.array([0.0, 0.0, toward]), origins.shape)
        locations, ray_ids, face_ids = mesh.ray.intersects_location(
            origins, direction, multiple_hits=False
        )
        if len(ray_ids) == 0:
            continue
        corners = vertices[faces[face_ids]]
        bary = trimesh.triangles.points_to_barycentric(corners, locations)
        n = np.einsum("nk,nkc->nc", np.clip(bary, 0.0, None), normals[faces[face_ids]])
        maps[k][:, flat[ray_ids]] = _unit(n).T.astype(np.float32)
    return maps.reshape(2, 3, size, size)
