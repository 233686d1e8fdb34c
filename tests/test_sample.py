"""Surface sampling and inside/outside labels against analytic shapes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from pifuhd.data.asset import MeshAsset
from pifuhd.data.sample import (
    color_samples,
    face_areas,
    inside_mesh,
    occupancy_samples,
    sample_surface,
    vertex_normals,
    winding_number,
)

RADIUS = 50.0
N_POINTS = 40_000
ON_FACE_TOL = 1e-9  # cm, float64 barycentric reconstruction
EXACT_TOL = 1e-5  # float32 outputs


def icosphere(subdivisions: int = 3, radius: float = RADIUS, center=(0.0, 0.0, 0.0)):
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(sphere.vertices) + center, np.asarray(sphere.faces, dtype=np.int64)


def inradius(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Smallest distance from the origin to a face plane (the polyhedron contains that ball)."""
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return float(np.abs(np.sum(normals * corners[:, 0], axis=1)).min())


def uniform_points(half: float, n: int = N_POINTS, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-half, half, size=(n, 3))


def test_sphere_labels_are_exact_outside_the_tessellation_band():
    vertices, faces = icosphere()
    points = uniform_points(1.2 * RADIUS)
    distance = np.linalg.norm(points, axis=1)
    labels = inside_mesh(vertices, faces, points)
    assert labels.dtype == bool and labels.shape == (N_POINTS,)
    # The inscribed polyhedron lies between its inradius and the sphere.
    clear = (distance > RADIUS) | (distance < inradius(vertices, faces))
    assert clear.sum() > 0.99 * N_POINTS
    assert np.mean(labels[clear] != (distance[clear] < RADIUS)) == 0.0


def test_torus_labels_are_exact_away_from_the_surface():
    major, minor = 30.0, 10.0
    torus = trimesh.creation.torus(major, minor, major_sections=64, minor_sections=32)
    points = uniform_points(major + minor + 5.0)
    ring = np.linalg.norm(points[:, :2], axis=1) - major  # the torus axis is z
    signed = np.sqrt(ring**2 + points[:, 2] ** 2) - minor
    # Chord sagittas: (R + r)(1 - cos(pi / 64)) + r (1 - cos(pi / 32)) < 0.1 cm.
    band = 0.2
    clear = np.abs(signed) > band
    labels = inside_mesh(torus.vertices, torus.faces, points)
    assert np.mean(labels[clear] != (signed[clear] < 0)) == 0.0
    assert labels[clear].sum() > 1000  # the test sees both labels
    assert not inside_mesh(torus.vertices, torus.faces, np.zeros((1, 3)))[0]  # the hole


def test_sphere_with_a_hole_is_labelled_correctly_away_from_the_hole():
    """Remove the cap of faces with centroid z > 0.8 r (about 10 % of the area).

    The generalised winding number inside drops by the solid angle of the hole / 4 pi (0.9 at
    the centre); points within ~0.15 r of the missing cap can be mislabelled (measured: 0.5 %
    of the points 0.05..0.15 r away), none farther than 0.2 r.
    """
    vertices, faces = icosphere()
    centroids = vertices[faces].mean(axis=1)
    open_faces = faces[centroids[:, 2] < 0.8 * RADIUS]
    assert len(open_faces) < len(faces)
    assert winding_number(vertices, open_faces, np.zeros((1, 3)))[0] == pytest.approx(0.9, abs=0.01)

    points = uniform_points(1.2 * RADIUS)
    distance = np.linalg.norm(points, axis=1)
    cap_points, _, _ = sample_surface(
        vertices, faces[centroids[:, 2] >= 0.8 * RADIUS], 20_000, np.random.default_rng(1)
    )
    from_hole = cKDTree(cap_points).query(points)[0]
    clear = (distance > RADIUS) | (distance < inradius(vertices, faces))
    far = clear & (from_hole > 0.2 * RADIUS)
    assert far.sum() > 0.9 * N_POINTS
    labels = inside_mesh(vertices, open_faces, points)
    assert np.mean(labels[far] != (distance[far] < RADIUS)) == 0.0
    assert np.mean(labels[clear] != (distance[clear] < RADIUS)) < 0.01  # all the box


def test_two_components():
    left, faces = icosphere(radius=25.0, center=(-30.0, 0.0, 0.0))
    right, _ = icosphere(radius=25.0, center=(30.0, 0.0, 0.0))
    vertices = np.concatenate([left, right])
    both = np.concatenate([faces, faces + len(left)])
    points = uniform_points(60.0)
    d = np.minimum(
        np.linalg.norm(points - [-30, 0, 0], axis=1), np.linalg.norm(points - [30, 0, 0], axis=1)
    )
    clear = (d > 25.0) | (d < inradius(*icosphere(radius=25.0)))
    labels = inside_mesh(vertices, both, points)
    assert np.mean(labels[clear] != (d[clear] < 25.0)) == 0.0
    assert labels[points[:, 0] < 0].any() and labels[points[:, 0] > 0].any()


def test_sample_surface_lies_on_faces_and_is_area_uniform():
    # Two disjoint triangles of areas 1 and 3.
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [5, 0, 1], [8, 0, 1], [5, 0, 3]], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    np.testing.assert_allclose(face_areas(vertices, faces), [1.0, 3.0])
    n = 40_000
    points, face_ids, bary = sample_surface(vertices, faces, n, np.random.default_rng(0))
    assert points.shape == (n, 3) and face_ids.shape == (n,) and bary.shape == (n, 3)
    assert (bary >= 0).all()
    np.testing.assert_allclose(bary.sum(axis=1), 1.0, atol=ON_FACE_TOL)
    np.testing.assert_allclose(
        points, np.einsum("nk,nkc->nc", bary, vertices[faces[face_ids]]), atol=ON_FACE_TOL
    )
    share = np.mean(face_ids == 1)
    assert share == pytest.approx(0.75, abs=4 * np.sqrt(0.75 * 0.25 / n))  # 4 sigma
    # Uniform within a triangle: the mean is the centroid (std of a coordinate < 1).
    first = points[face_ids == 0]
    np.testing.assert_allclose(
        first.mean(axis=0), vertices[:3].mean(axis=0), atol=4 / np.sqrt(len(first))
    )
    again = sample_surface(vertices, faces, n, np.random.default_rng(0))
    for a, b in zip((points, face_ids, bary), again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_occupancy_samples():
    vertices, faces = icosphere(subdivisions=4)
    sigmas = (1.0, 3.0)
    box_min, box_max = np.full(3, -60.0), np.array([60.0, 70.0, 80.0])

    def draw(seed: int) -> dict:
        return occupancy_samples(
            vertices, faces, np.random.default_rng(seed), 4000, sigmas, 3000, box_min, box_max
        )

    out = draw(0)
    assert out["points"].shape == (11_000, 3) and out["points"].dtype == np.float32
    assert out["inside"].dtype == bool and out["kind"].dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(out["kind"]), [4000, 4000, 3000])
    np.testing.assert_array_equal(out["inside"], inside_mesh(vertices, faces, out["points"]))
    uniform = out["points"][out["kind"] == 2]
    assert (uniform >= box_min).all() and (uniform <= box_max).all()
    # Isotropic noise of std sigma: the radial offset from the sphere has std ~ sigma (r >> sigma).
    for i, sigma in enumerate(sigmas):
        radial = np.linalg.norm(out["points"][out["kind"] == i], axis=1) - RADIUS
        assert radial.std() == pytest.approx(sigma, rel=0.05)
        assert out["inside"][out["kind"] == i].mean() == pytest.approx(0.5, abs=0.05)
    again = draw(0)
    for key in out:
        np.testing.assert_array_equal(out[key], again[key])
    assert not np.array_equal(out["points"], draw(1)["points"])


def test_color_samples_interpolate_albedo_and_normals():
    vertices, faces = icosphere(subdivisions=3)
    # Albedo linear in position, so its barycentric interpolation is exact at every point.
    colors = ((vertices + RADIUS) / (2 * RADIUS)).astype(np.float32)
    asset = MeshAsset(vertices, faces, vertex_colors=colors)
    out = color_samples(asset, 5000, np.random.default_rng(0))
    for key in ("points", "normals", "albedo"):
        assert out[key].shape == (5000, 3) and out[key].dtype == np.float32
    np.testing.assert_allclose(
        out["albedo"], (out["points"] + RADIUS) / (2 * RADIUS), atol=EXACT_TOL
    )
    np.testing.assert_allclose(np.linalg.norm(out["normals"], axis=1), 1.0, atol=EXACT_TOL)
    radial = out["points"] / np.linalg.norm(out["points"], axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(np.sum(radial * out["normals"], axis=1), -1, 1)))
    assert angle.max() < 1.0  # smooth normals of a subdivision-3 sphere
    distance = np.linalg.norm(out["points"], axis=1)
    assert distance.max() <= RADIUS + 1e-3 and distance.min() >= inradius(vertices, faces) - 1e-3
    # Area-weighted vertex normals of an icosphere are radial within 1 degree (uneven faces).
    cos = np.sum(vertex_normals(vertices, faces) * vertices / RADIUS, axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0
    again = color_samples(asset, 5000, np.random.default_rng(0))
    for key in out:
        np.testing.assert_array_equal(out[key], again[key])
