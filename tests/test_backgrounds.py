"""Procedural training backgrounds: reproducible draws, the mixture, figures kept off the centre,
floors in perspective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pifuhd.data.augment import procedural_background
from pifuhd.data.backgrounds import KIND_PROBABILITIES, draw_kind, render_background, silhouettes
from pifuhd.data.backgrounds.draw import gaussian_blur
from pifuhd.data.backgrounds.scenes import Layout, floor, floor_coordinates
from pifuhd.data.backgrounds.silhouettes import EDGE_BAND, draw_figure, figure_alpha, paint_figure

SIZE = 64
MIXTURE_SEEDS = 200
SHARE_TOLERANCE = 0.08
"""Largest gap between a kind's share over MIXTURE_SEEDS draws and its probability (> 3 sigma)."""
FIGURE_SEEDS = 60
BLUR_TOLERANCE = 1e-5


pytestmark = pytest.mark.usefixtures("one_thread")  # many small ops: see conftest


@pytest.mark.parametrize("kind", list(KIND_PROBABILITIES))
def test_each_kind_is_reproducible_bounded_and_seed_dependent(kind: str) -> None:
    first_rng, second_rng = np.random.default_rng(7), np.random.default_rng(7)
    first = render_background(kind, SIZE, first_rng)
    second = render_background(kind, SIZE, second_rng)
    other = render_background(kind, SIZE, np.random.default_rng(8))
    assert first.shape == (3, SIZE, SIZE) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert first_rng.random() == second_rng.random()  # same number of draws taken
    assert not torch.equal(first, other)
    assert first.min() >= 0.0 and first.max() <= 1.0


def test_procedural_background_is_the_mixture() -> None:
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    image = procedural_background(SIZE, rng)
    assert torch.equal(image, render_background(draw_kind(reference), SIZE, reference))
    with pytest.raises(ValueError, match="unknown background kind"):
        render_background("ocean", SIZE, rng)


def test_mixture_draws_every_kind_at_its_rate() -> None:
    assert math.isclose(sum(KIND_PROBABILITIES.values()), 1.0)
    kinds = [draw_kind(np.random.default_rng(seed)) for seed in range(MIXTURE_SEEDS)]
    for kind, probability in KIND_PROBABILITIES.items():
        share = kinds.count(kind) / MIXTURE_SEEDS
        assert share > 0 and abs(share - probability) < SHARE_TOLERANCE, kind


def test_figures_stay_in_the_outer_band_and_are_cut_by_the_border() -> None:
    n = 128
    band = math.ceil(EDGE_BAND * n) + 1  # the band plus the soft edge
    for seed in range(FIGURE_SEEDS):
        rng = np.random.default_rng(seed)
        right = seed % 2 == 1
        figure = draw_figure(rng, float(rng.uniform(0.2, 0.55)), right)
        alpha = figure_alpha(figure, n)
        assert alpha.min() >= 0 and alpha.max() <= 1
        # never in the central 40 % (not even in the middle 60 % of the width)
        assert alpha[:, band : n - band].max() == 0.0, seed
        border = alpha[:, n - 1] if right else alpha[:, 0]
        assert border.max() > 0.5, seed  # the border cuts the figure
        # painting changes exactly the pixels the mask covers
        canvas = torch.full((3, n, n), 0.5)
        paint_figure(canvas, figure, light=0.3)
        changed = (canvas != 0.5).any(dim=0)
        assert not (changed & (alpha == 0)).any(), seed


def test_people_kind_leaves_the_centre_to_the_scene(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same seeds with and without painting the people: the central 40 % box is identical
    (after the photo finish's blur and upsampling too)."""
    size, lo, hi = 256, int(0.3 * 256), int(0.7 * 256)
    seeds = range(4)
    with_people = [render_background("people", size, np.random.default_rng(s)) for s in seeds]
    monkeypatch.setattr(silhouettes, "paint_figure", lambda img, figure, light: None)
    for seed, image in zip(seeds, with_people, strict=True):
        without = render_background("people", size, np.random.default_rng(seed))
        assert not torch.equal(image, without)
        assert torch.equal(image[:, lo:hi, lo:hi], without[:, lo:hi, lo:hi]), seed


def test_floor_coordinates_invert_the_level_camera_projection() -> None:
    layout = Layout(0.3, 0.45, None, (1.0, 1.0), 1.5, 0.0, False)
    focal = 1.2
    lateral = torch.tensor([-2.0, 0.0, 0.7, 3.0])
    depth = torch.tensor([2.0, 5.0, 9.0, 40.0])
    x, y = 0.5 + focal * lateral / depth, layout.horizon + focal / depth
    got_lateral, got_depth = floor_coordinates(x, y, layout, focal)
    torch.testing.assert_close(got_lateral, lateral)
    torch.testing.assert_close(got_depth, depth)
    # a one-unit step across the floor spans (y - horizon) image widths: smaller near the horizon
    rows = torch.tensor([0.35, 0.6, 0.95])
    one_step = floor_coordinates(torch.full_like(rows, 0.6), rows, layout, focal)[0]
    torch.testing.assert_close(0.1 / one_step, rows - layout.horizon)


def _correlation_length(image: torch.Tensor, rows: slice, lags: int = 160) -> int:
    """Smallest horizontal lag (pixels) where the structure function reaches half its peak."""
    grey = image.mean(0)[rows]
    structure = torch.stack([((grey[:, k:] - grey[:, :-k]) ** 2).mean() for k in range(1, lags)])
    return int((structure >= 0.5 * structure.max()).nonzero()[0]) + 1


def test_floor_tiles_get_finer_toward_the_horizon() -> None:
    """Perspective: floor tiles near the camera span more pixels than tiles near the wall."""
    n = 512
    layout = Layout(0.2, 0.35, None, (1.0, 1.0), 1.5, 0.0, False)
    near_wall, near_camera = slice(int(0.5 * n), int(0.6 * n)), slice(int(0.88 * n), int(0.98 * n))
    ratios = []
    for seed in range(6):
        image = floor(n, layout, np.random.default_rng(seed), style="tiles")
        ratios.append(
            _correlation_length(image, near_camera) / _correlation_length(image, near_wall)
        )
    assert min(ratios) > 1.1 and float(np.median(ratios)) > 1.3, ratios


def test_gaussian_blur_matches_a_convolution_reference() -> None:
    image = torch.from_numpy(np.random.default_rng(0).random((3, 40, 50), dtype=np.float32))
    sigma = 1.7
    radius = math.ceil(2.5 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = torch.outer(taps, taps) / taps.sum() ** 2
    padded = F.pad(image[None], (radius,) * 4, mode="reflect")
    reference = F.conv2d(padded, kernel.expand(3, 1, -1, -1), groups=3)[0]
    torch.testing.assert_close(gaussian_blur(image, sigma), reference, atol=BLUR_TOLERANCE, rtol=0)
    assert gaussian_blur(image, 0.1) is image
