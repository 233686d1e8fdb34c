"""Distances between two meshes' vertex sets in voxels, for ``vs_reference.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def compare_meshes(ours: Path, theirs: Path, resolution: int) -> dict[str, float]:
    """Distances between the two meshes' vertex sets in voxels (2 / resolution), cube frame."""
    import trimesh

    a = np.asarray(trimesh.load(ours, process=False, force="mesh").vertices)
    b = np.asarray(trimesh.load(theirs, process=False, force="mesh").vertices)
    voxel = 2.0 / resolution
    out = distances(a, b, voxel)
    margin = 1.0 - 3 * voxel
    inner_a, inner_b = (v[np.all(np.abs(v) <= margin, axis=1)] for v in (a, b))
    for k, v in distances(inner_a, inner_b, voxel).items():
        out[f"interior_{k}"] = v
    out["chamfer_vox_if_y_negated"] = distances(a, b * [1.0, -1.0, 1.0], voxel)["chamfer_vox"]
    return out


def distances(
    a: np.ndarray, b: np.ndarray, voxel: float, names: tuple[str, str] = ("ours", "original")
) -> dict[str, float]:
    """Distances between two vertex sets (V, 3), in voxels: symmetric Chamfer (mean of the two
    directed mean nearest-vertex distances), the largest, and each set's share within 0.01
    voxel of the other (keys ``<name>_within_0.01_vox``)."""
    from scipy.spatial import cKDTree

    ab = cKDTree(b).query(a, workers=-1)[0] / voxel
    ba = cKDTree(a).query(b, workers=-1)[0] / voxel
    return {
        "chamfer_vox": float((ab.mean() + ba.mean()) / 2),
        "max_vox": float(max(ab.max(), ba.max())),
        f"{names[0]}_within_0.01_vox": float(np.mean(ab < 0.01)),
        f"{names[1]}_within_0.01_vox": float(np.mean(ba < 0.01)),
    }
