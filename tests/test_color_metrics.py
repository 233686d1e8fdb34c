"""CIEDE2000 against its published test data; sRGB -> CIELAB and CIEDE2000 against scikit-image;
PATD and PIPATD on constructed clouds and against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab

from pifuhd.eval.color_metrics import (
    DEFAULT_K,
    ciede2000,
    color_metrics,
    nearest_color_differences,
    patd,
    pipatd,
    srgb_to_lab,
)

TABLE_TOL = 1e-4
"""The published Delta E00 values carry four decimals."""
REFERENCE_TOL = 1e-6
"""Agreement with scikit-image's independent implementations (float64 round-off only)."""

# Sharma, Wu & Dalal (2005), Table 1: (L1, a1, b1, L2, a2, b2, Delta E00), all 34 pairs.
SHARMA_2005 = np.array(
    [
        (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
        (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
        (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
        (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
        (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
        (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
        (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
        (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
        (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
        (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
        (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
        (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
        (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
        (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
        (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
        (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
        (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
        (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
        (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
        (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
        (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
        (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
        (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
        (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
    ]
)


def test_ciede2000_matches_all_34_published_pairs() -> None:
    assert SHARMA_2005.shape == (34, 7)
    lab1, lab2, expected = SHARMA_2005[:, :3], SHARMA_2005[:, 3:6], SHARMA_2005[:, 6]
    np.testing.assert_allclose(ciede2000(lab1, lab2), expected, rtol=0, atol=TABLE_TOL)
    np.testing.assert_allclose(ciede2000(lab2, lab1), expected, rtol=0, atol=TABLE_TOL)


def test_ciede2000_pair_by_pair_and_broadcasting() -> None:
    """Scalar (3,) inputs give 0-d results; one colour against many broadcasts."""
    for row in SHARMA_2005:
        assert ciede2000(row[:3], row[3:6]).shape == ()
        assert abs(float(ciede2000(row[:3], row[3:6])) - row[6]) < TABLE_TOL
    reference = np.array([50.0, 2.5, 0.0])  # pairs 16-24 share it
    rows = SHARMA_2005[15:24]
    np.testing.assert_allclose(ciede2000(reference, rows[:, 3:6]), rows[:, 6], atol=TABLE_TOL)


def test_ciede2000_matches_skimage_on_random_pairs() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    lab1 = np.column_stack([rng.uniform(0, 100, n), rng.uniform(-110, 110, (n, 2))])
    lab2 = np.column_stack([rng.uniform(0, 100, n), rng.uniform(-110, 110, (n, 2))])
    lab1[:100, 1:] = 0.0  # achromatic colours: the hue rules' edge cases
    lab2[50:150, 1:] = 0.0
    near = lab1[200:400] + rng.normal(0, 1.0, (200, 3))  # small differences too
    lab2[200:400] = near
    ours = ciede2000(lab1, lab2, kL=1, kC=1, kH=1)
    np.testing.assert_allclose(ours, deltaE_ciede2000(lab1, lab2), rtol=0, atol=REFERENCE_TOL)
    weighted = ciede2000(lab1, lab2, kL=2.0, kC=1.5, kH=0.5)
    expected = deltaE_ciede2000(lab1, lab2, kL=2.0, kC=1.5, kH=0.5)
    np.testing.assert_allclose(weighted, expected, rtol=0, atol=REFERENCE_TOL)


def test_ciede2000_is_zero_for_identical_colours() -> None:
    lab = np.array([[50.0, 0.0, 0.0], [0.0, 0.0, 0.0], [73.0, 25.0, -18.0], [30.0, -60.0, 5.0]])
    assert np.all(ciede2000(lab, lab) == 0.0)


def test_srgb_to_lab_matches_skimage() -> None:
    rng = np.random.default_rng(1)
    rgb = np.concatenate([rng.random((2000, 3)), 0.05 * rng.random((500, 3)), np.eye(3)])
    np.testing.assert_allclose(srgb_to_lab(rgb), rgb2lab(rgb), rtol=0, atol=1e-4)
    image = rng.random((4, 5, 3))  # any leading shape
    np.testing.assert_allclose(srgb_to_lab(image), rgb2lab(image), rtol=0, atol=1e-4)


def test_srgb_to_lab_known_colours_and_uint8() -> None:
    white, black = srgb_to_lab(np.ones(3)), srgb_to_lab(np.zeros(3))
    assert abs(white[0] - 100.0) < 1e-3 and np.all(np.abs(white[1:]) < 1e-2)
    np.testing.assert_allclose(black, 0.0, atol=1e-12)
    rgb8 = np.random.default_rng(2).integers(0, 256, (100, 3), dtype=np.uint8)
    np.testing.assert_allclose(srgb_to_lab(rgb8), srgb_to_lab(rgb8 / 255.0), atol=1e-12)
    with pytest.raises(TypeError):
        srgb_to_lab(rgb8.astype(np.int32))
    with pytest.raises(ValueError):
        srgb_to_lab(np.zeros((4, 4)))


def random_cloud(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(n, 3)), rng.random((n, 3))


def brute_force(
    pred_v: np.ndarray, pred_c: np.ndarray, gt_v: np.ndarray, gt_c: np.ndarray, k: int
) -> tuple[float, float]:
    """(PATD, PIPATD) from the full distance matrix and a per-vertex loop: the obvious way."""
    nearest, best = [], []
    for v, c in zip(pred_v, pred_c, strict=True):
        order = np.argsort(np.linalg.norm(gt_v - v, axis=1))[:k]
        diffs = [float(ciede2000(srgb_to_lab(c), srgb_to_lab(gt_c[j]))) for j in order]
        nearest.append(diffs[0])
        best.append(min(diffs))
    return float(np.mean(nearest)), float(np.mean(best))


def test_patd_is_zero_for_identical_colours() -> None:
    rng = np.random.default_rng(3)
    vertices, colors = random_cloud(rng, 300)
    assert patd(vertices, colors, vertices, colors) == pytest.approx(0.0, abs=1e-12)
    assert pipatd(vertices, colors, vertices, colors) == pytest.approx(0.0, abs=1e-12)
    # A jittered, reordered reconstruction still finds its own vertices as nearest.
    order = rng.permutation(300)
    moved = vertices[order] + rng.normal(0, 1e-6, (300, 3))
    assert patd(moved, colors[order], vertices, colors) == pytest.approx(0.0, abs=1e-12)


def test_patd_of_a_known_colour_shift_is_the_published_difference() -> None:
    """Every GT vertex has Sharma pair 17's first colour, every predicted vertex its second
    (both made sRGB with scikit-image's inverse): PATD = PIPATD = 27.1492."""
    pair = SHARMA_2005[16]
    gt_rgb, pred_rgb = lab2rgb(pair[:3]), lab2rgb(pair[3:6])
    assert np.all((gt_rgb > 0) & (gt_rgb < 1) & (pred_rgb > 0) & (pred_rgb < 1))  # in gamut
    rng = np.random.default_rng(4)
    gt_v, pred_v = rng.normal(size=(200, 3)), rng.normal(size=(150, 3))
    gt_c, pred_c = np.tile(gt_rgb, (200, 1)), np.tile(pred_rgb, (150, 1))
    assert patd(pred_v, pred_c, gt_v, gt_c) == pytest.approx(pair[6], abs=TABLE_TOL)
    assert pipatd(pred_v, pred_c, gt_v, gt_c) == pytest.approx(pair[6], abs=TABLE_TOL)


def test_patd_uses_the_nearest_vertex() -> None:
    """Two GT clusters, red near x = -10 and blue near x = +10; predictions near the red one
    are red but those near the blue one are green: PATD = share_green * dE(green, blue)."""
    rng = np.random.default_rng(5)
    red, green, blue = np.eye(3)
    gt_v = np.concatenate([rng.normal(-10, 1, (50, 3)), rng.normal(10, 1, (50, 3))])
    gt_c = np.concatenate([np.tile(red, (50, 1)), np.tile(blue, (50, 1))])
    pred_v = np.concatenate([rng.normal(-10, 1, (30, 3)), rng.normal(10, 1, (10, 3))])
    pred_c = np.concatenate([np.tile(red, (30, 1)), np.tile(green, (10, 1))])
    green_blue = float(ciede2000(srgb_to_lab(green), srgb_to_lab(blue)))
    assert green_blue > 50.0  # a large, unambiguous difference
    assert patd(pred_v, pred_c, gt_v, gt_c) == pytest.approx(10 / 40 * green_blue, rel=1e-12)


def test_patd_and_pipatd_match_brute_force() -> None:
    rng = np.random.default_rng(6)
    pred_v, pred_c = random_cloud(rng, 60)
    gt_v, gt_c = random_cloud(rng, 80)
    for k in (1, 3, DEFAULT_K):
        expected_patd, expected_pipatd = brute_force(pred_v, pred_c, gt_v, gt_c, k)
        assert patd(pred_v, pred_c, gt_v, gt_c) == pytest.approx(expected_patd, rel=1e-12)
        assert pipatd(pred_v, pred_c, gt_v, gt_c, k=k) == pytest.approx(expected_pipatd, rel=1e-12)
    # k beyond the GT vertex count: the minimum over all of them.
    every = ciede2000(srgb_to_lab(pred_c)[:, None], srgb_to_lab(gt_c)[None]).min(axis=1).mean()
    assert pipatd(pred_v, pred_c, gt_v, gt_c, k=500) == pytest.approx(every, rel=1e-12)


def test_pipatd_never_exceeds_patd_and_equals_it_for_k1() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        pred_v, pred_c = random_cloud(rng, int(rng.integers(5, 200)))
        gt_v, gt_c = random_cloud(rng, int(rng.integers(5, 200)))
        k = int(rng.integers(2, 10))
        value = patd(pred_v, pred_c, gt_v, gt_c)
        assert pipatd(pred_v, pred_c, gt_v, gt_c, k=k) <= value
        assert pipatd(pred_v, pred_c, gt_v, gt_c, k=1) == value


def test_color_metrics_dict_and_uint8_colours() -> None:
    rng = np.random.default_rng(8)
    pred_v, gt_v = rng.normal(size=(100, 3)), rng.normal(size=(120, 3))
    pred_c8 = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    gt_c8 = rng.integers(0, 256, (120, 3), dtype=np.uint8)
    result = color_metrics(pred_v, pred_c8, gt_v, gt_c8, k=4)
    assert set(result) == {"patd", "pipatd", "k"} and result["k"] == 4
    assert result["patd"] == pytest.approx(patd(pred_v, pred_c8 / 255.0, gt_v, gt_c8 / 255.0))
    assert result["pipatd"] == pytest.approx(
        pipatd(pred_v, pred_c8 / 255.0, gt_v, gt_c8 / 255.0, k=4)
    )
    assert 0.0 < result["pipatd"] < result["patd"]
    assert color_metrics(pred_v, pred_c8, gt_v, gt_c8)["k"] == DEFAULT_K == 5
    diffs = nearest_color_differences(pred_v, pred_c8, gt_v, gt_c8, k=4)
    assert diffs.shape == (100, 4)


def test_bad_inputs_raise() -> None:
    vertices, colors = np.zeros((4, 3)), np.zeros((4, 3))
    with pytest.raises(ValueError):
        patd(vertices, colors[:3], vertices, colors)
    with pytest.raises(ValueError):
        patd(np.zeros((0, 3)), np.zeros((0, 3)), vertices, colors)
    with pytest.raises(ValueError):
        pipatd(vertices, colors, vertices, colors, k=0)
