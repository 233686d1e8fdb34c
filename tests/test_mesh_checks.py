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


def test_watertight_whatever_the_winding() -> None:
    """Both paths: a closed mesh with some faces flipped (not consistently wound) is still
    watertight, as in trimesh; a duplicated face (an edge used twice in one direction) or
    a degenerate face is not."""
    closed = trimesh.creation.icosphere(2)
    flipped = closed.faces.copy()
    flipped[::7] = flipped[::7, ::-1]
    assert is_watertight(flipped, len(closed.vertices)) is True
    assert trimesh.Trimesh(closed.vertices, flipped, process=False).is_watertight
    duplicated = np.vstack([closed.faces, closed.faces[:2]])
    assert is_watertight(duplicated, len(closed.vertices)) is False
    degenerate = np.vstack([closed.faces, [[0, 0, 1]]])
    assert is_watertight(degenerate, len(closed.vertices)) is False
    assert is_watertight(closed.faces[:, [0, 2, 1]], len(closed.vertices)) is True  # inside out
