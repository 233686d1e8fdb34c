"""Validation helpers of the training loop (``pifuhd.train.validate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def test_validation_mesh_distances_to_the_subject(tmp_path: Path) -> None:
    """A validation mesh is compared with the subject's mesh in the subject frame: the same
    box through a view's calib is 0 cm away, a box 2 cm larger on every side about 2 cm."""
    import trimesh

    from pifuhd.train.validate import mesh_distances

    truth = trimesh.creation.box(extents=(40.0, 160.0, 30.0))
    truth.export(tmp_path / "mesh.ply")
    calib = np.eye(4)
    calib[:3, :3] = np.diag([1.0 / 90.0] * 3) @ np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    calib[:3, 3] = (0.05, -0.02, 0.01)  # a view at yaw 90, 90 cm per cube unit, shifted
    same = truth.copy()
    same.apply_transform(calib)
    near = mesh_distances(same, calib, tmp_path / "mesh.ply")
    assert near["mesh_chamfer_cm"] < 1e-6 and near["mesh_p2s_cm"] < 1e-6
    larger = trimesh.creation.box(extents=(44.0, 164.0, 34.0))
    larger.apply_transform(calib)
    far = mesh_distances(larger, calib, tmp_path / "mesh.ply")
    assert far["mesh_p2s_cm"] == pytest.approx(2.0, abs=0.05)
    assert 1.9 < far["mesh_chamfer_cm"] < 2.1
