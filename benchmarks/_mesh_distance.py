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


def distances(a: np.ndarray, b: np.ndarray, voxel: float) -> dict[str, float]:
    """Symmetric Chamfer (mean of the two directed means), max, and share within 0.01 voxel."""
    from scipy.spatial import cKDTree

    ab = cKDTree(b).query(a)[0] / voxel
    ba = cKDTree(a).query(b)[0] / voxel
    return {
        "chamfer_vox": float((ab.mean() + ba.mean()) / 2),
        "max_vox": float(max(ab.max(), ba.max())),
        "ours_within_0.01_vox": float(np.mean(ab < 0.01)),
        "original_within_0.01_vox": float(np.mean(ba < 0.01)),
    }
