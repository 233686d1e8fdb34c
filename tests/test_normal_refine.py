"""Normal-map refinement: a bumpy sphere, shown the normal maps of the smooth one, smooths."""

from __future__ import annotations

import numpy as np
import trimesh

from pifuhd.geometry.normal_refine import RefineSettings, refine_mesh, visible_from

RADIUS = 0.6
SIZE = 256


def sphere_maps(radius: float = RADIUS, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Front and back normal maps (H, W, 3) of a sphere at the cube's centre (rows: y down)."""
    u = np.linspace(-1.0, 1.0, size)
    x, y = np.meshgrid(u, -u)
    inside = x**2 + y**2 < radius**2
    z = np.sqrt(np.clip(radius**2 - x**2 - y**2, 0.0, None))
    front = np.where(inside[..., None], np.stack([x, y, z], -1) / radius, 0.0)
    back = np.where(inside[..., None], np.stack([x, y, -z], -1) / radius, 0.0)
    return front.astype(np.float32), back.astype(np.float32)


def bumpy_sphere(seed: int = 0) -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)
    rng = np.random.default_rng(seed)
    bumps = 1.0 + 0.01 * rng.standard_normal(len(sphere.vertices))
    return trimesh.Trimesh(sphere.vertices * bumps[:, None], sphere.faces, process=False)


def normal_error(mesh: trimesh.Trimesh) -> float:
    """Mean 1 - cos between the mesh's vertex normals and the sphere's radial directions."""
    radial = mesh.vertices / np.linalg.norm(mesh.vertices, axis=1, keepdims=True)
    return float((1.0 - (mesh.vertex_normals * radial).sum(1)).mean())


def test_visibility_splits_a_sphere_into_front_and_back() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=RADIUS)
    z = sphere.vertices[:, 2]
    front, back = visible_from(sphere, 1.0), visible_from(sphere, -1.0)
    assert front[z > 0.05].all() and not front[z < -0.05].any()
    assert back[z < -0.05].all() and not back[z > 0.05].any()


def test_refinement_follows_the_normal_maps() -> None:
    """The bumps flatten: the normal error against the smooth sphere falls by more than half
    and the radius spread shrinks, while the vertices stay within 3 % of the radius. (The
    loss itself falls less: at the rim the bilinear map mixes in the empty background.)"""
    mesh = bumpy_sphere()
    before = normal_error(mesh)
    refined, report = refine_mesh(mesh, *sphere_maps(), RefineSettings(iterations=100))
    after = normal_error(refined)
    assert after < 0.5 * before, (before, after)
    assert report["normal_end"] < report["normal_start"]
    radius = np.linalg.norm(refined.vertices, axis=1)
    assert radius.std() < np.linalg.norm(mesh.vertices, axis=1).std()
    assert np.abs(radius - RADIUS).max() < 0.03 * RADIUS
    np.testing.assert_array_equal(refined.faces, mesh.faces)


def test_triangles_that_turn_over_are_put_back() -> None:
    """A large step turns triangles over; the refined mesh keeps every face's orientation."""
    mesh = bumpy_sphere(seed=1)
    refined, report = refine_mesh(mesh, *sphere_maps(), RefineSettings(iterations=10, lr=3e-2))
    start_n = mesh.face_normals
    cos = (start_n * refined.face_normals).sum(1)
    assert cos.min() > 0.0
    assert report["vertices_restored"] > 0  # the step was large enough to fold some


def test_unfold_restores_only_the_folded_triangle() -> None:
    from pifuhd.geometry.normal_refine import unfold

    start = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [2, 0, 0]], float)
    faces = np.array([[0, 1, 2], [1, 3, 2], [1, 4, 3]])
    moved = start.copy()
    moved[0] = [2.0, 2.0, 0.0]  # face 0 turns over
    moved[4] += [0.0, 0.0, 0.1]  # face 2 only tilts
    out, restored = unfold(start, moved, faces)
    np.testing.assert_array_equal(out[[0, 1, 2]], start[[0, 1, 2]])
    np.testing.assert_array_equal(out[4], moved[4])
    assert restored == 3
