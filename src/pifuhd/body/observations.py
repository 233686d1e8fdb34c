"""What the body fitter sees of one person, in the crop's normalised cube, and what it returns.

Cube frame (``docs/conventions.md``): x right, y up, z toward the viewer; x and y span the
crop square, orthographic projection ``(x, y, z) -> (x, y)``. MediaPipe's 33 landmarks
(``pifuhd.body.detect.LANDMARK_NAMES``) are converted here from image pixels and from its
world frame (metres, hip-centred, x right, y down, z away from the camera).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pifuhd.io.crops import CropRect, cube_to_pixel_matrix

FINE_SIZE = 1024
"""The fine image side the cube is defined on (as ``pifuhd reconstruct``)."""

MASK_SIZE = 256
"""Side of the person mask resampled to the crop square."""


@dataclass
class FitObservations:
    """One person, in the crop's cube.

    Attributes:
        keypoints: (33, 2) float64 MediaPipe image landmarks as cube (x, y).
        visibility: (33,) float64 in [0, 1], weight of each landmark.
        world: (33, 3) float64 MediaPipe world landmarks in metres, cube axes (x right, y up,
            z toward the viewer), hip-centred.
        mask: (M, M) bool person mask over the crop square (row 0 at cube y = +1), or None.
        crop: the crop square in input pixels; image_size: (H, W) of the photo.
        known: (M, M) bool, True where the crop square lies inside the photo (None: all).
        arm_crop: (S, S, 4) uint8 person crop for the arm-depth net (``pifuhd.body.arms``),
            given in side views only; None: the lifted depths stand.
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    mask: np.ndarray | None
    crop: CropRect
    image_size: tuple[int, int]
    known: np.ndarray | None = None
    arm_crop: np.ndarray | None = None


@dataclass
class BodyFit:
    """A fitted Anny body in the crop's cube (see the module docstring).

    Attributes:
        shape: Anny phenotype values in [0, 1] (``pifuhd.body.anny.SHAPE_KEYS``).
        root: (3,) rotation vector of the whole body (subject axes -> cube axes).
        pose: generic bone (``pifuhd.body.poses.GENERIC_BONES``) -> (3,) rotation vector about
            its joint, in the reference pose's axes.
        anny_pose_deltas: (J, 4, 4) the same pose as Anny's "local-ref" parameters.
        scale: cube units per metre; translation: (3,) cube offset of the posed body (z puts
            the body's area-weighted centroid at z = 0, as training views put the subject's).
        vertices: (V, 3) float64 posed mesh in the cube; faces: (F, 3) int64.
        joints: name -> (3,) cube position of ``pifuhd.body.skinned.JOINT_NAMES``.
        residuals: stage -> term -> value after that stage (2D terms in cube units x 100).
        seconds: stage -> wall seconds. crop: the crop square; warnings: notes for the user.
    """

    shape: dict[str, float]
    root: np.ndarray
    pose: dict[str, np.ndarray]
    anny_pose_deltas: np.ndarray
    scale: float
    translation: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    joints: dict[str, np.ndarray]
    residuals: dict[str, dict[str, float]]
    seconds: dict[str, float]
    crop: CropRect | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """JSON-ready description (no mesh arrays except joints)."""
        return {
            "shape": {k: round(float(v), 5) for k, v in self.shape.items()},
            "root_rotvec": [round(float(v), 6) for v in self.root],
            "pose_rotvec": {k: [round(float(x), 6) for x in v] for k, v in self.pose.items()},
            "scale_cube_per_m": round(float(self.scale), 6),
            "translation_cube": [round(float(v), 6) for v in self.translation],
            "joints_cube": {k: [round(float(x), 6) for x in v] for k, v in self.joints.items()},
            "residuals": self.residuals,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "crop": None if self.crop is None else list(self.crop.as_tuple()),
            "warnings": list(self.warnings),
        }


def pixels_to_cube(xy: np.ndarray, crop: CropRect, size: int = FINE_SIZE) -> np.ndarray:
    """(N, 2) input-image pixel positions (x right, y down, pixel corners at integers) ->
    (N, 2) cube (x, y): the inverse of :func:`pifuhd.io.crops.cube_to_pixel_matrix`."""
    m = cube_to_pixel_matrix(crop, size)
    return np.stack([(xy[:, 0] - m[0, 3]) / m[0, 0], (xy[:, 1] - m[1, 3]) / m[1, 1]], axis=1)


def mediapipe_world_to_cube(world: np.ndarray) -> np.ndarray:
    """(N, 3) MediaPipe world landmarks (x right, y down, z away) -> cube axes."""
    return world * np.array([1.0, -1.0, -1.0])


def mask_to_crop(mask: np.ndarray, crop: CropRect, size: int = MASK_SIZE) -> np.ndarray:
    """(H, W) image mask -> (size, size) bool over the crop square (nearest pixel; outside the
    image is background: see :func:`crop_in_image`)."""
    h, w = mask.shape
    centres = crop.x + (np.arange(size) + 0.5) * crop.w / size
    rows = crop.y + (np.arange(size) + 0.5) * crop.h / size
    cols = np.floor(centres).astype(np.int64)
    rws = np.floor(rows).astype(np.int64)
    out = np.zeros((size, size), dtype=bool)
    ok_c = (cols >= 0) & (cols < w)
    ok_r = (rws >= 0) & (rws < h)
    out[np.ix_(ok_r, ok_c)] = mask[np.ix_(rws[ok_r], cols[ok_c])] > 0.5
    return out


def crop_in_image(image_size: tuple[int, int], crop: CropRect, size: int = MASK_SIZE) -> np.ndarray:
    """(size, size) bool: which cells of the crop square (as :func:`mask_to_crop`) lie in an
    image of ``image_size`` (H, W)."""
    ones = np.ones(image_size, dtype=bool)
    return mask_to_crop(ones, crop, size)


def area_weighted_centroid(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(3,) centroid of a triangle mesh's surface."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    return (area[:, None] * tri.mean(axis=1)).sum(0) / max(area.sum(), 1e-12)
