"""SH basis, rotation, environments and PRT transfer against analytic truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from pifuhd.data.lighting import (
    LIGHT_PRESETS,
    UNIFORM_DC,
    fibonacci_sphere,
    irradiance_shading,
    light_preset,
    lobe_sh,
    prt_transfer,
    radiance,
    random_environment,
    random_rotation,
    rotate_sh,
    sh_basis,
    shade,
)
from pifuhd.data.sample import vertex_normals

ORTHONORMAL_TOL = 2e-3  # quadrature on 20k Fibonacci directions
EXACT_TOL = 1e-10  # float64 identities
SHADING_TOL = 1e-5  # float32 transfer
QUADRATURE_TOL = 2e-3  # brute-force irradiance on 100k directions
OVERHANG_TOL = 0.06  # Monte Carlo, 256 stratified directions


def uniform_light() -> np.ndarray:
    light = np.zeros((9, 3))
    light[0] = UNIFORM_DC
    return light


def test_sh_basis_values_and_orthonormality():
    up = sh_basis(np.array([[0.0, 0.0, 1.0]]))[0]
    expected = [0.5 / math.sqrt(math.pi), 0, math.sqrt(3 / (4 * math.pi)), 0, 0, 0]
    expected += [0.5 * math.sqrt(5 / math.pi), 0, 0]
    np.testing.assert_allclose(up, expected, atol=EXACT_TOL)
    dirs = fibonacci_sphere(20000)
    basis = sh_basis(dirs)
    gram = basis.T @ basis * (4 * math.pi / len(dirs))
    np.testing.assert_allclose(gram, np.eye(9), atol=ORTHONORMAL_TOL)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=EXACT_TOL)


def test_rotate_sh_evaluates_at_rotated_directions():
    rng = np.random.default_rng(1)
    coeffs = rng.standard_normal((9, 3))
    rotation = random_rotation(rng)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=EXACT_TOL)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    rotated = rotate_sh(coeffs, rotation)
    dirs = fibonacci_sphere(500)
    # L'(R w) = L(w); rows w @ R.T are R w.
    np.testing.assert_allclose(
        radiance(rotated, dirs @ rotation.T), radiance(coeffs, dirs), atol=EXACT_TOL
    )
    # Composition and inverse.
    other = random_rotation(rng)
    np.testing.assert_allclose(
        rotate_sh(rotate_sh(coeffs, rotation), other),
        rotate_sh(coeffs, other @ rotation),
        atol=EXACT_TOL,
    )
    np.testing.assert_allclose(rotate_sh(rotated, rotation.T), coeffs, atol=EXACT_TOL)


def test_lobe_peaks_toward_its_direction():
    d = np.array([0.3, 0.8, -0.5]) / np.linalg.norm([0.3, 0.8, -0.5])
    coeffs = lobe_sh(d)[:, None]
    dirs = fibonacci_sphere(1000)
    np.testing.assert_allclose(radiance(coeffs, dirs)[:, 0], ((1 + dirs @ d) / 2) ** 2, atol=1e-10)


def test_irradiance_matches_brute_force_quadrature():
    """Pins the clamped-cosine band factors pi, 2 pi / 3, pi / 4."""
    rng = np.random.default_rng(2)
    light = random_environment(rng)
    dirs = fibonacci_sphere(100_000)
    values = radiance(light, dirs)
    normals = fibonacci_sphere(7)
    weights = np.clip(dirs @ normals.T, 0, None) * (4 * math.pi / len(dirs)) / math.pi
    np.testing.assert_allclose(
        irradiance_shading(light, normals), weights.T @ values, atol=QUADRATURE_TOL
    )


def test_random_environment_non_negative_and_deterministic():
    dirs = fibonacci_sphere(4000)
    for seed in range(20):
        light = random_environment(np.random.default_rng(seed))
        assert light.shape == (9, 3)
        assert radiance(light, dirs).min() >= 0.0
        assert irradiance_shading(light, dirs).min() >= 0.0
        assert np.all(light[0] > 0)
    a = random_environment(np.random.default_rng(5))
    np.testing.assert_array_equal(a, random_environment(np.random.default_rng(5)))
    assert not np.allclose(a, random_environment(np.random.default_rng(6)))


def test_light_presets():
    dirs = fibonacci_sphere(4000)
    contrast = {}
    for name in LIGHT_PRESETS:
        light = light_preset(name)
        assert light.shape == (9, 3)
        shading = irradiance_shading(light, dirs).mean(axis=1)
        assert shading.min() >= 0.0
        contrast[name] = shading.max() / shading.min()
    assert contrast["clear"] < 1.5
    assert 2.0 < contrast["intermediate"] < 4.0
    assert contrast["wild"] > 5.0
    with pytest.raises(ValueError, match="clear, intermediate, wild"):
        light_preset("sunny")


def test_prt_unoccluded_sphere_is_exact():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=50.0)
    normals = vertex_normals(sphere.vertices, sphere.faces)
    transfer = prt_transfer(sphere.vertices, normals, sphere.ray, 64, np.random.default_rng(0))
    assert transfer.shape == (len(sphere.vertices), 9)
    assert transfer.dtype == np.float32
    np.testing.assert_allclose(shade(transfer, uniform_light()), 1.0, atol=SHADING_TOL)
    light = light_preset("wild")
    np.testing.assert_allclose(
        shade(transfer, light), irradiance_shading(light, normals), atol=SHADING_TOL
    )


def grid_quad(half: float, y: float, n: int, up: bool) -> trimesh.Trimesh:
    """An n x n quad grid at height y spanning [-half, half]^2 in x, z, facing +y if ``up``."""
    t = np.linspace(-half, half, n + 1)
    x, z = np.meshgrid(t, t, indexing="ij")
    vertices = np.stack([x.ravel(), np.full(x.size, y), z.ravel()], axis=1)
    idx = np.arange(x.size).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate([np.stack([a, d, c], -1), np.stack([a, c, b], -1)]).reshape(-1, 3)
    return trimesh.Trimesh(vertices, faces if up else faces[:, ::-1], process=False)


def test_prt_overhang_matches_form_factor():
    """A floor point under a parallel square roof of half-side a at height h = a.

    Unoccluded fraction of the cosine-weighted hemisphere: 1 - F with the point-to-square form
    factor F = (4 / pi) * A / sqrt(1 + A^2) * atan(A / sqrt(1 + A^2)), A = a / h.
    """
    floor = grid_quad(100.0, 0.0, 4, up=True)
    roof = grid_quad(20.0, 20.0, 1, up=False)
    scene = trimesh.util.concatenate([floor, roof])
    normals = vertex_normals(scene.vertices, scene.faces)
    centre = int(np.argmin(np.linalg.norm(scene.vertices, axis=1)))
    np.testing.assert_allclose(normals[centre], [0, 1, 0], atol=EXACT_TOL)
    transfer = prt_transfer(scene.vertices, normals, scene.ray, 256, np.random.default_rng(0))
    a = 1.0 / math.sqrt(2.0)
    expected = 1.0 - (4 / math.pi) * a * math.atan(a)
    shading = shade(transfer, uniform_light())
    assert shading[centre, 0] == pytest.approx(expected, abs=OVERHANG_TOL)
    corner = int(np.argmax(np.linalg.norm(scene.vertices[: len(floor.vertices)], axis=1)))
    assert shading[corner, 0] > 0.9  # far from the roof: nearly unoccluded
