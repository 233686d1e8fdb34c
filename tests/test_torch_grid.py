"""The tensor grid evaluators against the NumPy ones: the same points, the same volumes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from pifuhd.geometry.grid import dilate_box, evaluate_coarse_to_fine, evaluate_dense
from pifuhd.geometry.original_octree import evaluate_original_octree
from pifuhd.geometry.torch_grid import (
    dilate_box_torch,
    evaluate_coarse_to_fine_torch,
    evaluate_dense_torch,
)
from pifuhd.geometry.torch_octree import evaluate_original_octree_torch

CHUNK = 7777  # not a divisor of any lattice size: chunk boundaries fall everywhere


def _field(points: np.ndarray) -> np.ndarray:
    """A sphere off the centre with a ripple: the refinement rules fill, refine and skip."""
    dist = np.linalg.norm(points.astype(np.float64) - (0.1, -0.05, 0.02), axis=1)
    occupancy = 1.0 / (1.0 + np.exp(-20.0 * (0.45 - dist))) + 0.05 * np.sin(9.0 * points[:, 0])
    return occupancy.astype(np.float32)


class _Recorder:
    """The field as a tensor query, keeping every point it was asked for."""

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        self.points.append(points.numpy().copy())
        return torch.from_numpy(_field(points.numpy()))


class _NumpyRecorder(_Recorder):
    def __call__(self, points: np.ndarray) -> np.ndarray:  # type: ignore[override]
        self.points.append(points.copy())
        return _field(points)


def _same_calls(ours: _Recorder, theirs: _NumpyRecorder) -> None:
    np.testing.assert_array_equal(np.concatenate(ours.points), np.concatenate(theirs.points))


@pytest.mark.parametrize(("resolution", "dilation"), [(40, 1), (128, 0), (128, 2), (200, 1)])
def test_coarse_to_fine_matches_numpy_bit_for_bit(resolution: int, dilation: int) -> None:
    ours, theirs = _Recorder(), _NumpyRecorder()
    padded, count = evaluate_coarse_to_fine_torch(ours, resolution, dilation=dilation, chunk=CHUNK)
    volume, expected = evaluate_coarse_to_fine(theirs, resolution, dilation=dilation, chunk=CHUNK)
    assert count == expected
    np.testing.assert_array_equal(padded[1:-1, 1:-1, 1:-1].numpy(), volume)
    assert not padded[0].any() and not padded[-1].any() and not padded[:, :, -1].any()
    _same_calls(ours, theirs)


def test_dense_matches_numpy() -> None:
    ours, theirs = _Recorder(), _NumpyRecorder()
    padded = evaluate_dense_torch(ours, 24, chunk=CHUNK)
    np.testing.assert_array_equal(padded[1:-1, 1:-1, 1:-1].numpy(), evaluate_dense(theirs, 24))
    np.testing.assert_array_equal(np.concatenate(ours.points), np.concatenate(theirs.points))


@pytest.mark.parametrize("resolution", [64, 96, 128])
def test_original_octree_matches_numpy_bit_for_bit(resolution: int) -> None:
    ours, theirs = _Recorder(), _NumpyRecorder()
    padded, count = evaluate_original_octree_torch(ours, resolution, chunk=CHUNK)
    volume, expected = evaluate_original_octree(theirs, resolution, chunk=CHUNK)
    assert count == expected
    np.testing.assert_array_equal(padded.numpy(), volume.base)
    # the same points, in the same order, each at most once
    _same_calls(ours, theirs)
    points = np.concatenate(ours.points)
    assert len(np.unique(points, axis=0)) == len(points) == count


def test_dilation_matches_numpy() -> None:
    mask = np.random.default_rng(0).random((9, 10, 11)) > 0.97
    for iterations in (0, 1, 2):
        np.testing.assert_array_equal(
            dilate_box_torch(torch.from_numpy(mask), iterations).numpy(),
            dilate_box(mask, iterations),
        )


def test_bad_query_shape_is_named() -> None:
    with pytest.raises(ValueError, match="expected"):
        evaluate_dense_torch(lambda p: torch.zeros(p.shape[0], 2), 8)


def test_both_coarse_to_fine_evaluators_have_the_same_defaults() -> None:
    """The bit-identity above holds for the defaults too: the evaluators share them."""

    def defaults(fn) -> dict:
        return {
            name: p.default
            for name, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty and name != "device"
        }

    assert defaults(evaluate_coarse_to_fine_torch) == defaults(evaluate_coarse_to_fine)
    assert defaults(evaluate_original_octree_torch) == defaults(evaluate_original_octree)
