"""Grid progress counts what is evaluated: ``progress(done, scheduled)`` from every evaluator,
``grid_ticker`` and the CLI's progress line (issue 18)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import torch

from pifuhd.cli import GridBar
from pifuhd.geometry.grid import evaluate_coarse_to_fine, evaluate_dense
from pifuhd.geometry.original_octree import evaluate_original_octree
from pifuhd.geometry.progress import GridProgress, ProgressFn
from pifuhd.geometry.torch_grid import evaluate_coarse_to_fine_torch, evaluate_dense_torch
from pifuhd.geometry.torch_octree import evaluate_original_octree_torch
from pifuhd.runtime import grid_ticker

RESOLUTION = 64
BASE = 16  # first lattice step 4: three levels (steps 4, 2, 1)
LEVELS = 3
CHUNK = 1000  # several calls per level
RADIUS = 0.5
SHARPNESS = 20.0


def sphere(points: np.ndarray) -> np.ndarray:
    """(N, 3) float32 -> (N,) float32 occupancy of a sphere of radius RADIUS at the origin."""
    dist = np.linalg.norm(points.astype(np.float64), axis=1)
    return (1.0 / (1.0 + np.exp(SHARPNESS * (dist - RADIUS)))).astype(np.float32)


class Counted:
    """The sphere as a NumPy or tensor query, counting the points it is asked for."""

    def __init__(self) -> None:
        self.points = 0

    def __call__(self, points: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        self.points += points.shape[0]
        if isinstance(points, torch.Tensor):
            return torch.from_numpy(sphere(points.numpy()))
        return sphere(points)


def _c2f(fn: Counted, progress: ProgressFn) -> int:
    return evaluate_coarse_to_fine(
        fn, RESOLUTION, base_resolution=BASE, chunk=CHUNK, progress=progress
    )[1]


def _c2f_torch(fn: Counted, progress: ProgressFn) -> int:
    return evaluate_coarse_to_fine_torch(
        fn, RESOLUTION, base_resolution=BASE, chunk=CHUNK, progress=progress
    )[1]


def _octree(fn: Counted, progress: ProgressFn) -> int:
    return evaluate_original_octree(
        fn, RESOLUTION, init_resolution=BASE, chunk=CHUNK, progress=progress
    )[1]


def _octree_torch(fn: Counted, progress: ProgressFn) -> int:
    return evaluate_original_octree_torch(
        fn, RESOLUTION, init_resolution=BASE, chunk=CHUNK, progress=progress
    )[1]


EVALUATORS: dict[str, Callable[[Counted, ProgressFn], int]] = {
    "coarse_to_fine": _c2f,
    "coarse_to_fine_torch": _c2f_torch,
    "original_octree": _octree,
    "original_octree_torch": _octree_torch,
}


def _check_calls(calls: list[tuple[int, int]], evaluated: int) -> None:
    """The protocol of ``pifuhd.geometry.progress``: both counts never decrease, done never
    passes scheduled, and the last call reports every evaluated point out of as many."""
    done = np.array([d for d, _ in calls])
    scheduled = np.array([s for _, s in calls])
    assert (np.diff(done) >= 0).all() and (np.diff(scheduled) >= 0).all()
    assert (done <= scheduled).all()
    assert calls[-1] == (evaluated, evaluated)


@pytest.mark.parametrize("name", EVALUATORS)
def test_progress_counts_the_points_evaluated_level_by_level(name: str) -> None:
    fn, calls = Counted(), []
    evaluated = EVALUATORS[name](fn, lambda done, scheduled: calls.append((done, scheduled)))
    assert fn.points == evaluated < RESOLUTION**3 // 2
    _check_calls(calls, evaluated)
    totals = sorted({s for _, s in calls})
    assert len(totals) == LEVELS  # the total grows once per level, never to R^3
    assert calls[0] == (0, totals[0])  # a level is scheduled before its first point


@pytest.mark.parametrize("dense", [evaluate_dense, evaluate_dense_torch])
def test_dense_schedules_the_whole_grid_up_front(dense) -> None:
    fn, calls = Counted(), []
    dense(fn, 20, chunk=CHUNK, progress=lambda *c: calls.append(c))
    assert fn.points == 20**3
    _check_calls(calls, 20**3)
    assert {s for _, s in calls} == {20**3}


def test_a_level_without_points_reports_nothing() -> None:
    calls: list[tuple[int, int]] = []
    counts = GridProgress(lambda *c: calls.append(c))
    counts.schedule(0)
    counts.schedule(5)
    counts.advance(5)
    assert calls == [(0, 5), (5, 5)]


def test_grid_ticker_reports_points_out_of_those_scheduled() -> None:
    calls: list[tuple[str, int, int]] = []
    fn = Counted()
    evaluated = _c2f(fn, grid_ticker(lambda *c: calls.append(c)))
    assert {stage for stage, _, _ in calls} == {"grid"}
    assert calls[-1] == ("grid", evaluated, evaluated)
    grid_ticker(None)(1, 2)  # no callback: nothing to report


def test_cli_line_shows_points_out_of_scheduled_and_the_level() -> None:
    bar = GridBar(io.StringIO())
    evaluated = _c2f(Counted(), lambda done, scheduled: bar("grid", done, scheduled))
    assert bar.bar is not None
    assert bar.bar.n == bar.bar.total == evaluated
    assert bar.level == LEVELS
    line = str(bar.bar)
    assert line.startswith("grid: ") and f"level {LEVELS}" in line and "points" in line
    assert "<" not in line and "?" not in line  # no ETA (tqdm's "<remaining")
    bar.close()
    assert bar.bar is None
