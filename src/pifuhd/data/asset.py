"""A textured subject mesh in the normalised subject frame, and the view frames derived from it.

Subject frame: centimetres, y up, the subject's height scaled to ``SUBJECT_HEIGHT`` (180 cm) and
its bounding box centred on the origin; the subject faces +z (toward a camera at yaw 0).

View ``yaw`` (degrees): the camera orbits the subject about +y. ``view_rotation(yaw)`` maps
subject coordinates to view coordinates (x right, y up, z toward the camera) and
``view_matrix(yaw)`` then scales to the normalised cube of ``docs/conventions.md``, whose x and
y span the rendered image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SUBJECT_HEIGHT = 180.0
"""Height of every normalised subject, in cm (PIFu's convention)."""

FILL = 0.88
"""Fraction of the image height the subject's height fills (PIFu's renders; our mask crops)."""

FINE_SIZE = 1024
"""Image size whose pixel centres span exactly the cube's [-1, 1] (the inference crop rule)."""

CUBE_HALF_CM = SUBJECT_HEIGHT / FILL / 2.0 * (FINE_SIZE - 1) / FINE_SIZE
"""Centimetres per cube unit: cube x = +-1 are the centres of the outer pixels of a 1024 image."""

IMAGE_HALF_EXTENT = FINE_SIZE / (FINE_SIZE - 1)
"""Half the image's side in cube units: pixel edges at +-IMAGE_HALF_EXTENT, at any image size."""


@dataclass
class MeshAsset:
    """A triangle mesh with its albedo, in the subject frame (see module docstring).

    Attributes:
        vertices: (V, 3) float64, cm.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside.
        uv: (V, 2) float32 texture coordinates in [0, 1] (v up, OBJ convention), or None.
        texture: (H, W, 3) float32 sRGB albedo in [0, 1] (row 0 = top, v = 1), or None.
        vertex_colors: (V, 3) float32 sRGB albedo in [0, 1], or None.
        name: subject name (used in messages and output paths).

    Albedo precedence: texture (with uv) > vertex_colors > uniform ``DEFAULT_ALBEDO``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    name: str = "subject"
    info: dict = field(default_factory=dict)

    def albedo(self, face_ids: np.ndarray, barycentric: np.ndarray) -> np.ndarray:
        """Albedo at surface points given as faces + barycentric coordinates.

        Args:
            face_ids: (N,) int face indices.
            barycentric: (N, 3) float weights of the face's three vertices (rows sum to 1).
        Returns:
            (N, 3) float32 sRGB albedo in [0, 1]; the texture is sampled bilinearly.
        """
        corners = self.faces[face_ids]  # (N, 3)
        if self.texture is not None and self.uv is not None:
            uv = np.einsum("nk,nkc->nc", barycentric, self.uv[corners].astype(np.float64))
            return sample_texture(self.texture, uv)
        if self.vertex_colors is not None:
            colors = self.vertex_colors[corners].astype(np.float64)
            return np.einsum("nk,nkc->nc", barycentric, colors).astype(np.float32)
        return np.broadcast_to(DEFAULT_ALBEDO, (len(face_ids), 3)).astype(np.float32)


DEFAULT_ALBEDO = np.array([0.7, 0.7, 0.7], dtype=np.float32)


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around of ``texture`` (H, W, 3) at ``uv`` (N, 2) -> (N, 3).

    ``u`` runs left to right, ``v`` bottom to top (row 0 is v = 1); texel centres sit at
    ``(i + 0.5) / W``.
    """
    h, w = texture.shape[:2]
    x = (uv[:, 0] % 1.0) * w - 0.5
    y = (1.0 - uv[:, 1] % 1.0) * h - 0.5
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    x0w, x1w = x0 % w, (x0 + 1) % w
    y0c, y1c = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    top = texture[y0c, x0w] * (1 - fx) + texture[y0c, x1w] * fx
    bottom = texture[y1c, x0w] * (1 - fx) + texture[y1c, x1w] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def view_rotation(yaw_deg: float) -> np.ndarray:
    """(3, 3) rotation taking subject coordinates to view coordinates for a camera at ``yaw``.

    Yaw 0 looks at the subject's front (the subject faces +z, toward the camera). Positive yaw
    moves the camera counter-clockwise seen from above (toward the subject's left side, +x),
    i.e. the subject turns by ``-yaw`` about +y.
    """
    t = math.radians(yaw_deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def view_matrix(yaw_deg: float, depth_origin_cm: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) float64: homogeneous subject coordinates (cm) -> the view's normalised cube.

    The cube is that of inference (``docs/conventions.md``): x right, y up, z toward the
    camera, pixel centres of a 1024 image at ``-1 + 2 j / 1023``. Project with the test-time
    ``calib = diag(1, -1, 1)``.

    depth_origin_cm: (3,) subject-frame point placed at cube z = 0 in every view (x and y are
    untouched, so the image does not change). An orthographic photo does not show where the
    subject lies in depth, so the training targets must put it at a depth the network can
    infer from the image: ``prepare`` uses the subject's volume centroid
    (``depth_origin``). Rotating about the bounding box's centre instead moves the centroid
    by up to +-35 cm in depth from view to view, and a network trained on that learns
    depth columns far too thick.
    """
    m = np.eye(4)
    m[:3, :3] = view_rotation(yaw_deg) / CUBE_HALF_CM
    if depth_origin_cm is not None:
        m[2, 3] = -float(m[2, :3] @ np.asarray(depth_origin_cm, dtype=np.float64))
    return m


def pixel_centers(size: int) -> np.ndarray:
    """(size,) cube coordinates of the pixel centres of a ``size``-pixel image row, left to right.

    The image spans ``[-IMAGE_HALF_EXTENT, IMAGE_HALF_EXTENT]``; rows run top (y = +) to bottom,
    so row ``j`` sits at ``-pixel_centers(size)[j]``.
    """
    step = 2.0 * IMAGE_HALF_EXTENT / size
    return -IMAGE_HALF_EXTENT + (np.arange(size) + 0.5) * step
