"""Headless orthographic ray-cast renderer: PRT-shaded colour, albedo, mask, normal and depth maps.

Frames (``pifuhd.data.asset``): the mesh lives in the subject frame (cm); a view at ``yaw``
maps it by ``view_rotation(yaw)`` to the view frame (x right, y up, z toward the camera) and
then by ``1 / CUBE_HALF_CM`` to the normalised cube. Image row 0 is the top (+y); pixel
``(row j, col i)`` is the ray through cube ``x = pixel_centers(S)[i]``, ``y = -pixel_centers(S)[j]``
travelling along -z (orthographic).

Front hits are the first hits of these rays. Back hits (the last hit along each ray, i.e. the
far side seen through the body) are the first hits of the reversed rays, cast from behind the
subject toward the camera, only for pixels with a front hit. Hit points, barycentric
coordinates and depths are recomputed in float64 from the hit triangle: rays are parallel, so
the barycentric coordinates of the pixel centre in the triangle's projection onto the image
plane are those of the hit point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import trimesh

from pifuhd.data.asset import CUBE_HALF_CM, MeshAsset, pixel_centers, view_rotation
from pifuhd.data.lighting import prt_transfer, rotate_sh, shade
from pifuhd.data.sample import interpolate, unit_rows, vertex_normals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewMaps:
    """Everything one view renders; S = image size, row 0 = top.

    Attributes:
        rgb: (S, S, 3) float32 sRGB in [0, 1], shaded colour; 0 on the background.
        albedo: (S, S, 3) float32 sRGB in [0, 1]; 0 on the background.
        mask: (S, S) bool, True where a ray hits the subject.
        normal_front: (S, S, 3) float32 unit normals (view frame) of the first hit; 0 on the
            background.
        normal_back: (S, S, 3) float32 unit normals (view frame) of the last hit (outward, so
            z < 0 on a convex shape); 0 on the background.
        depth_front: (S, S) float32 cube z of the first hit (toward the camera is +); NaN on
            the background.
        depth_back: (S, S) float32 cube z of the last hit; NaN on the background.
    """

    rgb: np.ndarray
    albedo: np.ndarray
    mask: np.ndarray
    normal_front: np.ndarray
    normal_back: np.ndarray
    depth_front: np.ndarray
    depth_back: np.ndarray


@dataclass(frozen=True)
class _Hits:
    """Ray hits for a set of pixels: ``pixels`` (H,) indices into the queried rays."""

    pixels: np.ndarray
    face_ids: np.ndarray
    barycentric: np.ndarray
    z: np.ndarray


def projected_barycentric(corners_xy: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """(N, 3) barycentric coordinates of 2D ``points_xy`` (N, 2) in triangles (N, 3, 2).

    Clipped to >= 0 and renormalised (points on an edge may fall a rounding error outside);
    degenerate (edge-on) triangles get (1/3, 1/3, 1/3).
    """
    a, b, c = corners_xy[:, 0], corners_xy[:, 1], corners_xy[:, 2]
    det = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    dx, dy = points_xy[:, 0] - c[:, 0], points_xy[:, 1] - c[:, 1]
    degenerate = np.abs(det) < 1e-12
    det = np.where(degenerate, 1.0, det)
    w0 = ((b[:, 1] - c[:, 1]) * dx + (c[:, 0] - b[:, 0]) * dy) / det
    w1 = ((c[:, 1] - a[:, 1]) * dx + (a[:, 0] - c[:, 0]) * dy) / det
    weights = np.clip(np.stack([w0, w1, 1.0 - w0 - w1], axis=1), 0.0, None)
    weights[degenerate] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


class SubjectRenderer:
    """Renders views of one subject; the ray structure and PRT are built once.

    Args:
        asset: the subject (subject frame, cm).
        prt_dirs: Monte Carlo directions per vertex for the PRT transfer.
        seed: seed of the PRT direction set.
    """

    def __init__(self, asset: MeshAsset, prt_dirs: int = 64, seed: int = 0) -> None:
        self.asset = asset
        self.vertices = np.asarray(asset.vertices, dtype=np.float64)
        self.faces = np.asarray(asset.faces, dtype=np.int64)
        mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        self.intersector = mesh.ray
        self.normals = vertex_normals(self.vertices, self.faces)
        self.transfer = prt_transfer(
            self.vertices, self.normals, self.intersector, prt_dirs, np.random.default_rng(seed)
        )
        self._far = float(np.linalg.norm(self.vertices, axis=1).max()) + 10.0
        log.debug("renderer for %s: %d faces, %d PRT dirs", asset.name, len(self.faces), prt_dirs)

    def _cast(
        self, xy: np.ndarray, rotation: np.ndarray, view_vertices: np.ndarray, toward: float
    ) -> _Hits:
        """First hits of rays through view-frame ``xy`` (N, 2) cm along view z = ``toward``."""
        origins = np.empty((len(xy), 3))
        origins[:, :2] = xy
        origins[:, 2] = -toward * self._far
        direction = toward * rotation[2]  # R^T (0, 0, toward): the view z axis in the subject
        tri = self.intersector.intersects_first(
            origins @ rotation, np.broadcast_to(direction, origins.shape)
        )
        pixels = np.nonzero(tri >= 0)[0]
        face_ids = tri[pixels].astype(np.int64)
        corners = view_vertices[self.faces[face_ids]]  # (H, 3, 3)
        barycentric = projected_barycentric(corners[:, :, :2], xy[pixels])
        z = np.einsum("nk,nk->n", barycentric, corners[:, :, 2])
        return _Hits(pixels, face_ids, barycentric, z)

    def _view_normals(self, hits: _Hits, rotation: np.ndarray) -> np.ndarray:
        """(H, 3) unit interpolated normals at ``hits``, in the view frame."""
        normals = interpolate(self.normals, self.faces, hits.face_ids, hits.barycentric)
        return unit_rows(normals @ rotation.T)

    def render(self, yaw_deg: float, size: int, light: np.ndarray, gamma: float = 2.2) -> ViewMaps:
        """Render the view at ``yaw_deg`` as ``size`` x ``size`` maps.

        Args:
            light: (9, 3) SH environment in the VIEW frame (``pifuhd.data.lighting``).
            gamma: colour = albedo * shading ** (1 / gamma), clipped to [0, 1].
        """
        return self.render_lights(yaw_deg, size, [light], gamma)[0]

    def render_lights(
        self, yaw_deg: float, size: int, lights: list[np.ndarray], gamma: float = 2.2
    ) -> list[ViewMaps]:
        """Render the view once per light, casting the rays only once.

        Returns one ``ViewMaps`` per light; all but ``rgb`` are shared between them.
        """
        rotation = view_rotation(yaw_deg)
        view_vertices = self.vertices @ rotation.T
        centers = pixel_centers(size) * CUBE_HALF_CM  # cm, left to right
        low, high = view_vertices[:, :2].min(axis=0), view_vertices[:, :2].max(axis=0)
        pad = 2.0 * (centers[1] - centers[0]) if size > 1 else 1.0
        cols = np.nonzero((centers >= low[0] - pad) & (centers <= high[0] + pad))[0]
        rows = np.nonzero((-centers >= low[1] - pad) & (-centers <= high[1] + pad))[0]
        row_grid, col_grid = np.meshgrid(rows, cols, indexing="ij")
        flat = (row_grid * size + col_grid).ravel()
        xy = np.stack([centers[col_grid.ravel()], -centers[row_grid.ravel()]], axis=1)

        front = self._cast(xy, rotation, view_vertices, -1.0)
        back = self._cast(xy[front.pixels], rotation, view_vertices, 1.0)
        back = self._complete_back(front, back)
        pixels = flat[front.pixels]
        albedo = self.asset.albedo(front.face_ids, front.barycentric)

        maps = _empty_maps(size)
        maps["mask"][pixels] = True
        maps["albedo"][pixels] = albedo
        maps["normal_front"][pixels] = self._view_normals(front, rotation)
        maps["normal_back"][pixels] = self._view_normals(back, rotation)
        maps["depth_front"][pixels] = front.z / CUBE_HALF_CM
        maps["depth_back"][pixels] = back.z / CUBE_HALF_CM
        shared = {k: v.reshape((size, size, *v.shape[1:])) for k, v in maps.items() if k != "rgb"}
        results = []
        for light in lights:
            light_subject = rotate_sh(light, rotation.T)  # L_subject(w) = L_view(R w)
            vertex_shading = shade(self.transfer, light_subject)
            shading = interpolate(vertex_shading, self.faces, front.face_ids, front.barycentric)
            rgb = np.clip(albedo * np.clip(shading, 0.0, None) ** (1.0 / gamma), 0.0, 1.0)
            image = np.zeros((size * size, 3), np.float32)
            image[pixels] = rgb
            results.append(ViewMaps(rgb=image.reshape(size, size, 3), **shared))
        return results

    @staticmethod
    def _complete_back(front: _Hits, back: _Hits) -> _Hits:
        """Back hits aligned with the front hits; a missed back ray reuses the front hit.

        (Reversed rays miss only for open meshes or at grazing silhouettes.)
        """
        face_ids = front.face_ids.copy()
        barycentric = front.barycentric.copy()
        z = front.z.copy()
        face_ids[back.pixels] = back.face_ids
        barycentric[back.pixels] = back.barycentric
        z[back.pixels] = back.z
        return _Hits(front.pixels, face_ids, barycentric, z)


def _empty_maps(size: int) -> dict[str, np.ndarray]:
    """Flat (S*S, ...) background-filled arrays for every ``ViewMaps`` field."""
    n = size * size
    return {
        "rgb": np.zeros((n, 3), np.float32),
        "albedo": np.zeros((n, 3), np.float32),
        "mask": np.zeros(n, bool),
        "normal_front": np.zeros((n, 3), np.float32),
        "normal_back": np.zeros((n, 3), np.float32),
        "depth_front": np.full(n, np.nan, np.float32),
        "depth_back": np.full(n, np.nan, np.float32),
    }


def render_view(
    asset: MeshAsset, yaw_deg: float, size: int, light: np.ndarray, prt_dirs: int = 64
) -> ViewMaps:
    """One view of ``asset`` (builds a ``SubjectRenderer``; reuse one for several views)."""
    return SubjectRenderer(asset, prt_dirs=prt_dirs).render(yaw_deg, size, light)


# --- storage encodings ---------------------------------------------------------------------

DEPTH_SCALE = 16384.0
"""uint16 depth codes per cube unit (step 2^-14 ≈ 6.1e-5 cube units ≈ 0.0055 cm)."""

DEPTH_OFFSET = 32768
"""uint16 code of cube z = 0; code 0 means background. Codes 1..65535 cover about [-2, 2)."""


def normal_to_rgb8(normal: np.ndarray) -> np.ndarray:
    """Encode unit normals (..., 3) as uint8 ``round((n + 1) / 2 * 255)``; zero vectors -> 0.

    (0, 0, 0) is never the code of a unit vector (it would need every component <= -0.996),
    so it marks the background. The error after decoding is <= 0.5 / 127.5 per component,
    under 0.4 degrees.
    """
    n = np.asarray(normal, dtype=np.float64)
    code = np.rint((np.clip(n, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    code[~np.any(n != 0, axis=-1)] = 0
    return code


def rgb8_to_normal(code: np.ndarray, renormalize: bool = False) -> np.ndarray:
    """Inverse of ``normal_to_rgb8``: (..., 3) uint8 -> float32 ``code / 127.5 - 1``; 0 where
    the code is (0, 0, 0).

    Exact inverse of the quantiser's affine map, so ``normal_to_rgb8(rgb8_to_normal(c)) == c``;
    components are within 0.5 / 127.5 of the encoded unit normal (length within 0.007 of 1).
    ``renormalize=True`` returns unit vectors (same directions).
    """
    c = np.asarray(code)
    n = c.astype(np.float64) / 127.5 - 1.0
    n[~np.any(c != 0, axis=-1)] = 0.0
    if renormalize:
        length = np.linalg.norm(n, axis=-1, keepdims=True)
        n = n / np.maximum(length, 1e-300)
    return n.astype(np.float32)


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """Encode cube-z depth (...) as uint16 ``round(z * DEPTH_SCALE) + DEPTH_OFFSET``; NaN -> 0.

    Raises:
        ValueError: a finite depth outside the representable range (codes 1..65535).
    """
    z = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(z)
    code = np.zeros(z.shape, dtype=np.int64)
    code[valid] = np.rint(z[valid] * DEPTH_SCALE).astype(np.int64) + DEPTH_OFFSET
    if np.any(valid & ((code < 1) | (code > 65535))):
        raise ValueError("depth outside the uint16 range [-1.99994, 1.99994] cube units")
    return code.astype(np.uint16)


def uint16_to_depth(code: np.ndarray) -> np.ndarray:
    """Inverse of ``depth_to_uint16``: float32 cube z, NaN where code = 0 (error <= 2^-15)."""
    c = np.asarray(code, dtype=np.float64)
    z = (c - DEPTH_OFFSET) / DEPTH_SCALE
    z[c == 0] = np.nan
    return z.astype(np.float32)
