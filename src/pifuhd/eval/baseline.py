"""A trivial baseline: inflate the silhouette.

x and y come from the mask alone; the depth extent at each pixel is the distance to the
silhouette's edge (a diamond-shaped cross-section), symmetric about z = 0. Any method gets the
silhouette for free from a good crop, so P2S alone flatters it; the gap to this baseline is
what a network earns.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy import ndimage

from pifuhd.data.asset import pixel_centers
from pifuhd.geometry.grid import grid_axis
from pifuhd.geometry.marching import extract_mesh


def inflate_silhouette(mask: np.ndarray, resolution: int = 128) -> trimesh.Trimesh:
    """Closed mesh in the normalised cube from a (S, S) bool mask (row 0 = top).

    The mask's pixel centres sit at ``pixel_centers(S)`` (the render / inference convention).
    Returns the mesh in cube coordinates (empty if the mask is empty).
    """
    size = mask.shape[0]
    centers = pixel_centers(size)
    pixel = centers[1] - centers[0]  # pixel pitch in cube units
    half_depth = ndimage.distance_transform_edt(mask) * pixel  # cube units
    axis = grid_axis(resolution)
    cols = np.clip(np.searchsorted(centers, axis), 0, size - 1)
    rows = np.clip(np.searchsorted(-centers[::-1], axis), 0, size - 1)
    rows = size - 1 - rows  # cube y up -> image rows down
    depth = half_depth[rows[None, :], cols[:, None]]  # (x, y)
    volume = (np.abs(axis)[None, None, :] < depth[:, :, None]).astype(np.float32)
    return extract_mesh(volume, level=0.5)
