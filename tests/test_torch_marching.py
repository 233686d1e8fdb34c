"""Marching cubes in PyTorch: the rule-built tables and the surface against scikit-image's."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from pifuhd.geometry import cube_tables
from pifuhd.geometry.cube_tables import EDGE_FACES, FACE_CORNERS, ambiguous_faces, loops, tiling
from pifuhd.geometry.marching import _closed_and_oriented, break_ties, is_watertight
from pifuhd.geometry.slabs import lewiner
from pifuhd.geometry.torch_marching import marching_cubes_torch

LEVEL = 0.5
SEEDS = (0, 1, 2)
NOISE_VOLUME_RTOL = 0.03
"""On white noise (nearly every cell ambiguous) ours encloses 1-2 % less than Lewiner's, whose
interior test opens tunnels between inside corners that the face rule alone keeps apart."""
SMOOTH_VOLUME_RTOL = 1e-3
"""On a smooth field the tilings differ only in which diagonal splits a quadrilateral."""
POSITION_ATOL = 1e-5


def _valid_tilings():
    for case in range(256):
        mask = ambiguous_faces(case)
        for bits in range(64):
            if bits & ~mask == 0:
                yield case, bits


def _face_segments(case: int, bits: int) -> set[tuple[int, int]]:
    """The directed loop sides (edge pairs) of a tiling: the boundary of its triangles."""
    return {
        (loop[i], loop[(i + 1) % len(loop)]) for loop in loops(case, bits) for i in range(len(loop))
    }


def test_every_tiling_is_bounded_by_its_loops_and_has_no_face_diagonal() -> None:
    for case, bits in _valid_tilings():
        triangles, centres = tiling(case, bits)
        directed = Counter()
        for a, b, c in triangles:
            directed.update([(a, b), (b, c), (c, a)])
        boundary = {e for e, n in directed.items() if (e[1], e[0]) not in directed}
        assert all(n == 1 for n in directed.values()), (case, bits)
        assert boundary == _face_segments(case, bits), (case, bits)
        for a, b in directed:
            if a < 12 and b < 12 and (a, b) not in boundary and (b, a) not in boundary:
                assert not EDGE_FACES[a] & EDGE_FACES[b], (case, bits, a, b)
        assert len(centres) <= cube_tables.MAX_CENTRES


def test_every_crossed_edge_is_in_exactly_one_loop() -> None:
    for case, bits in _valid_tilings():
        crossed = {
            e
            for e, (c0, c1) in enumerate(cube_tables.EDGE_CORNERS)
            if (case >> int(c0) & 1) != (case >> int(c1) & 1)
        }
        members = [e for loop in loops(case, bits) for e in loop]
        assert sorted(members) == sorted(crossed), (case, bits)


def test_faces_run_counter_clockwise_seen_from_outside() -> None:
    for f, cycle in enumerate(FACE_CORNERS):
        axis, side = divmod(f, 2)
        points = cube_tables.CORNER_OFFSETS[cycle].astype(float)
        normal = np.cross(points[1] - points[0], points[2] - points[1])
        assert normal[axis] * (1 if side else -1) > 0


def test_single_corner_triangle_faces_away_from_the_corner() -> None:
    midpoints = cube_tables.CORNER_OFFSETS[cube_tables.EDGE_CORNERS].mean(axis=1)
    for corner in range(8):
        (triangle,), _ = tiling(1 << corner)
        a, b, c = midpoints[list(triangle)]
        away = midpoints[list(triangle)].mean(0) - cube_tables.CORNER_OFFSETS[corner]
        assert np.cross(b - a, c - a) @ away > 0


def _both(volume: np.ndarray):
    padded = np.pad(volume.astype(np.float32), 1)
    ours = [a.numpy() for a in marching_cubes_torch(torch.from_numpy(padded), LEVEL)]
    # scikit-image counts a sample equal to the level as inside: move ties below it first
    return ours, lewiner(break_ties(padded, LEVEL), LEVEL)


def _edge_crossings(volume: np.ndarray) -> np.ndarray:
    """The obvious reference: one vertex per grid edge whose ends are on either side of the
    level, linearly interpolated; (V, 3) sorted rows."""
    rows = []
    for i, j, k in np.ndindex(volume.shape):
        for axis in range(3):
            upper = [i, j, k]
            upper[axis] += 1
            if upper[axis] == volume.shape[axis]:
                continue
            v0, v1 = float(volume[i, j, k]), float(volume[tuple(upper)])
            if (v0 > LEVEL) != (v1 > LEVEL):
                point = [float(i), float(j), float(k)]
                point[axis] += (LEVEL - v0) / (v1 - v0)
                rows.append(point)
    return _sorted_rows(np.array(rows))


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows.T[::-1])]


def _assert_all_near(points: np.ndarray, reference: np.ndarray) -> None:
    """Every point has a reference point within POSITION_ATOL."""
    distance, _ = cKDTree(reference).query(points)
    assert distance.max() < POSITION_ATOL


def _signed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (verts[faces[:, i]].astype(np.float64) for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_gives_a_closed_oriented_surface_like_scikit_image(seed: int) -> None:
    rng = np.random.default_rng(seed)
    volume = rng.random((14, 15, 16)).astype(np.float32)
    volume[rng.random(volume.shape) < 0.05] = LEVEL  # ties count as outside in both
    (verts, faces, normals), (ref_verts, ref_faces, _) = _both(volume)
    assert is_watertight(faces, len(verts))
    assert _closed_and_oriented(faces, len(verts))
    # one vertex per crossed edge (then the extra centre vertices), each also one of Lewiner's
    crossings = _edge_crossings(np.pad(volume, 1))
    edge_verts = verts[: len(crossings)]
    np.testing.assert_allclose(_sorted_rows(edge_verts), crossings, atol=POSITION_ATOL)
    _assert_all_near(edge_verts, ref_verts)
    ours, ref = _signed_volume(verts, faces), _signed_volume(ref_verts, ref_faces)
    assert ours > 0
    np.testing.assert_allclose(ours, ref, rtol=NOISE_VOLUME_RTOL)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)


def test_sphere_matches_scikit_image_and_points_outward() -> None:
    axis = np.linspace(-1.0, 1.0, 33)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    radius = np.sqrt(x**2 + y**2 + z**2)
    (verts, faces, normals), (ref_verts, ref_faces, ref_normals) = _both(1.0 - radius)
    assert is_watertight(faces, len(verts))
    # a smooth field has no ambiguous cell: the same vertices, as many triangles
    assert len(verts) == len(ref_verts) and len(faces) == len(ref_faces)
    _assert_all_near(verts, ref_verts)
    _assert_all_near(ref_verts, verts)
    centre = np.full(3, 17.0)  # index of the origin in the padded volume
    outward = np.einsum("ij,ij->i", normals, verts - centre)
    assert (outward > 0).all()
    order, ref_order = np.lexsort(verts.T), np.lexsort(ref_verts.T)
    cosine = np.einsum("ij,ij->i", normals[order], ref_normals[ref_order])
    assert cosine.min() > 0.99
    np.testing.assert_allclose(
        _signed_volume(verts, faces), _signed_volume(ref_verts, ref_faces), rtol=SMOOTH_VOLUME_RTOL
    )


def test_saddle_face_follows_the_asymptotic_decider() -> None:
    # two cells sharing the face x = 1; its inside corners are diagonal, and their values
    # decide whether the surface joins them (one tube) or separates them (two sheets)
    def surface_pieces(inside_value: float) -> int:
        volume = np.zeros((3, 2, 2), dtype=np.float32)
        volume[1] = [[inside_value, 0.0], [0.0, inside_value]]
        verts, faces, _ = marching_cubes_torch(torch.from_numpy(volume), 0.4)
        edges = np.sort(faces.numpy()[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        parent = list(range(len(verts)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        for a, b in edges:
            parent[root(a)] = root(b)
        return len({root(i) for i in range(len(verts))})

    # saddle of the face's bilinear interpolant: (v^2 - 0) / (2 v) = v / 2 against 0.4
    assert surface_pieces(1.0) == 1  # saddle 0.5 > 0.4: joined
    assert surface_pieces(0.7) == 2  # saddle 0.35 < 0.4: separated


def test_empty_and_bad_volumes() -> None:
    verts, faces, normals = marching_cubes_torch(torch.zeros((4, 4, 4)), LEVEL)
    assert verts.shape == (0, 3) and faces.shape == (0, 3) and normals.shape == (0, 3)
    with pytest.raises(ValueError, match="3-D"):
        marching_cubes_torch(torch.zeros((4, 4)), LEVEL)
