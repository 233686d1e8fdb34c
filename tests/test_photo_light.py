"""Judging a photo's light (``pifuhd.photo_light``) on spheres photographed under lights whose
answers are known: soft light over clothes of two albedos, a key light, a light from behind."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

import pifuhd.photo_light as pl
from pifuhd.geometry.normal_refine import visible_from
from pifuhd.surface_colors import photo_weight, relative_shading, sample_image

SIZE = 128
KEY = np.array([-0.5, 0.6, 0.6]) / np.linalg.norm([-0.5, 0.6, 0.6])
BEHIND = np.array([0.9, 0.3, -0.2]) / np.linalg.norm([0.9, 0.3, -0.2])
SHIRT, TROUSERS = (0.7, 0.7, 0.65), (0.05, 0.06, 0.12)
"""Linear albedos of the sphere's upper and lower half: the albedo follows the normal's y, as
a light shirt over dark trousers does."""


def to_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def picture_normals() -> tuple[np.ndarray, np.ndarray]:
    """((S, S, 3) normals of a sphere of radius 0.6 seen from the front, (S, S, 3) albedo)."""
    u = np.linspace(-1, 1, SIZE)
    x, y = np.meshgrid(u, -u)
    z = np.sqrt(np.clip(0.36 - x**2 - y**2, 0, None)) / 0.6
    albedo = np.where((y > 0)[..., None], SHIRT, TROUSERS)
    return np.stack([x / 0.6, y / 0.6, z], -1), albedo


def photographed(shading) -> dict:
    """The sphere's well-seen vertices: normals, photo and a net that knows the albedo up to a
    gain per channel (``shading``: (S, S, 3) normals -> (S, S, 1 or 3) linear shading)."""
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.6)
    normals, albedo = picture_normals()
    photo = to_srgb(albedo * shading(normals)).astype(np.float32)
    truth = to_srgb(albedo).astype(np.float32)
    seen = visible_from(mesh, 1.0)
    colors = sample_image(photo, mesh.vertices).astype(np.float64)
    net = np.clip(sample_image(truth, mesh.vertices) * [1.15, 1.1, 0.9], 0.0, 1.0)
    return {
        "photo": colors,
        "net": net.astype(np.float64),
        "normals": np.asarray(mesh.vertex_normals),
        "well_seen": photo_weight(mesh, seen) > 0.5,
    }


def lambert(normals: np.ndarray, direction: np.ndarray) -> np.ndarray:
    return np.clip(normals @ direction, 0.0, None)[..., None]


SOFT = lambda n: 0.95 + 0.05 * lambert(n, KEY)  # noqa: E731
KEYED = lambda n: 0.35 + 1.0 * lambert(n, KEY)  # noqa: E731
FROM_BEHIND = lambda n: 0.05 + 1.5 * np.array([1.0, 0.6, 0.3]) * lambert(n, BEHIND)  # noqa: E731


def cues(view: dict) -> tuple[float, float]:
    irradiance = pl.net_irradiance(view["photo"], view["net"], view["normals"], view["well_seen"])
    return (
        pl.shading_contrast(view["photo"], view["net"], view["normals"], view["well_seen"]),
        pl.irradiance_spread(irradiance, view["well_seen"]),
    )


def test_shading_contrast_reads_the_light_not_the_clothes() -> None:
    """Soft light over a light shirt and dark trousers: the photo's own shading fit reads the
    albedo change from top to bottom as a strong light (spread 0.46); within the albedo groups
    the contrast stays near the light's own (0.005). A key light from the upper left gives
    about 0.1."""
    soft = photographed(SOFT)
    photo_only = relative_shading(soft["normals"], soft["photo"], soft["well_seen"])
    assert np.std(photo_only[soft["well_seen"]]) > 0.3
    soft_contrast, soft_spread = cues(soft)
    assert soft_contrast < 0.5 * pl.CONTRAST_RAMP[0]
    assert soft_spread < pl.SPREAD_RAMP[0]
    assert pl.light_harshness(soft["photo"], soft["net"], soft["normals"], soft["well_seen"]) == 0
    keyed = photographed(KEYED)
    assert cues(keyed)[0] > 1.5 * pl.CONTRAST_RAMP[1]
    assert cues(keyed)[0] > 10 * soft_contrast
    assert (
        pl.light_harshness(keyed["photo"], keyed["net"], keyed["normals"], keyed["well_seen"]) == 1
    )


def test_irradiance_spread_catches_a_light_from_behind() -> None:
    """An orange light from behind leaves the seen front evenly dim; the light fitted against
    the net still varies widely."""
    view = photographed(FROM_BEHIND)
    contrast, spread = cues(view)
    assert spread > 3 * pl.SPREAD_RAMP[1]
    harsh = pl.light_harshness(view["photo"], view["net"], view["normals"], view["well_seen"])
    assert harsh == max(pl.ramp(contrast, pl.CONTRAST_RAMP), pl.ramp(spread, pl.SPREAD_RAMP))
    assert harsh == 1.0


def test_irradiance_spread_is_the_fitted_lights_spread() -> None:
    """A photo that is the net times a first-order light: the fit recovers the light (up to
    its small ridge), and the spread is its luminance's standard deviation over its median."""
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(400, 3))
    normals[:, 2] = np.abs(normals[:, 2])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    light = 1.0 + 0.3 * normals[:, :1] * np.array([1.0, 0.8, 0.5])
    net = rng.uniform(0.2, 0.8, (400, 3))
    well = np.ones(400, bool)
    irradiance = pl.net_irradiance(net * light, net, normals, well)
    np.testing.assert_allclose(irradiance, light, atol=0.08)
    assert np.abs(irradiance - light).mean() < 0.02
    luminance = light @ pl.LUMA
    expected = np.std(luminance / np.median(luminance))
    assert pl.irradiance_spread(irradiance, well) == pytest.approx(expected, rel=0.05)


def test_nothing_to_judge_by_keeps_the_photo() -> None:
    view = photographed(KEYED)
    none = np.zeros_like(view["well_seen"])
    assert pl.shading_contrast(view["photo"], view["net"], view["normals"], none) == 0.0
    assert pl.light_harshness(view["photo"], view["net"], view["normals"], none) == 0.0


def test_ramp_and_groups() -> None:
    assert pl.ramp(0.05, (0.05, 0.065)) == 0.0
    assert pl.ramp(0.0575, (0.05, 0.065)) == pytest.approx(0.5)
    assert pl.ramp(1.0, (0.05, 0.065)) == 1.0
    colors = np.repeat(np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.1, 0.1, 0.1]]), 30, 0)
    groups = pl.albedo_groups(colors, colors)
    assert len(np.unique(groups)) == 3  # three colours, three groups, each whole
    assert all(len(np.unique(groups[i * 30 : (i + 1) * 30])) == 1 for i in range(3))
    np.testing.assert_array_equal(groups, pl.albedo_groups(colors, colors))  # every time
    # a net that blurs a red and blue check into purple: the photo's hue splits it
    purple = np.tile([0.5, 0.1, 0.5], (60, 1))
    checks = np.repeat(np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]]), 30, 0)
    split = pl.albedo_groups(purple, checks)
    assert len(np.unique(split)) == 2 and len(np.unique(split[:30])) == 1
