"""The vectorised watertight check against trimesh's."""

from __future__ import annotations

import numpy as np
import trimesh

from pifuhd.geometry.marching import is_watertight


def test_is_watertight_matches_trimesh() -> None:
    closed = trimesh.creation.icosphere(2)
    two = trimesh.util.concatenate([closed, trimesh.creation.box()])
    holed = trimesh.Trimesh(closed.vertices, closed.faces[1:], process=False)
    doubled = np.vstack([closed.faces, closed.faces[:1]])  # one edge in three faces
    fin = trimesh.Trimesh(closed.vertices, doubled, process=False)
    for mesh in (closed, two, holed, fin):
        assert is_watertight(mesh.faces, len(mesh.vertices)) == mesh.is_watertight
    assert [is_watertight(m.faces, len(m.vertices)) for m in (closed, two, holed, fin)] == [
        True,
        True,
        False,
        False,
    ]
    assert is_watertight(np.zeros((0, 3), dtype=np.int64), 0) is False
