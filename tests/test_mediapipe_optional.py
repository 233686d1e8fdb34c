"""The mediapipe crop path without mediapipe: thresholding, and a stand-in module's results."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from pifuhd.io.person_mask import _segmentation_to_mask, mediapipe_mask


def test_segmentation_is_thresholded_above_half() -> None:
    soft = np.array([[0.0, 0.5, 0.51], [0.9, 0.2, 1.0]], dtype=np.float32)
    mask = _segmentation_to_mask(soft, (2, 3))
    assert mask is not None
    assert mask.dtype == bool
    assert mask.tolist() == [[False, False, True], [True, False, True]]


def test_segmentation_threshold_is_adjustable() -> None:
    soft = np.array([[0.3, 0.6]], dtype=np.float32)
    mask = _segmentation_to_mask(soft, (1, 2), threshold=0.25)
    assert mask is not None
    assert mask.tolist() == [[True, True]]


def test_no_person_gives_none() -> None:
    assert _segmentation_to_mask(None, (4, 4)) is None
    assert _segmentation_to_mask(np.full((4, 4), 0.5, dtype=np.float32), (4, 4)) is None


def test_segmentation_of_another_size_is_ignored() -> None:
    assert _segmentation_to_mask(np.ones((4, 5), dtype=np.float32), (5, 4)) is None


class _FakePose:
    """Stand-in for ``mediapipe.solutions.pose.Pose`` returning a fixed segmentation."""

    segmentation: ClassVar[np.ndarray | None] = None
    error: ClassVar[Exception | None] = None
    seen: ClassVar[list[np.ndarray]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def __enter__(self) -> _FakePose:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def process(self, pixels: np.ndarray) -> SimpleNamespace:
        _FakePose.seen.append(pixels)
        if _FakePose.error is not None:
            raise _FakePose.error
        return SimpleNamespace(segmentation_mask=_FakePose.segmentation)


@pytest.fixture
def fake_mediapipe(monkeypatch: pytest.MonkeyPatch) -> type[_FakePose]:
    module = SimpleNamespace(solutions=SimpleNamespace(pose=SimpleNamespace(Pose=_FakePose)))
    monkeypatch.setitem(sys.modules, "mediapipe", module)
    monkeypatch.setattr(_FakePose, "segmentation", None)
    monkeypatch.setattr(_FakePose, "error", None)
    monkeypatch.setattr(_FakePose, "seen", [])
    return _FakePose


def test_mediapipe_mask_feeds_uint8_rgb_and_thresholds(fake_mediapipe: type[_FakePose]) -> None:
    rgb = np.zeros((3, 2, 3), dtype=np.float32)
    rgb[0, 0] = (1.0, 0.5, 1.5)
    fake_mediapipe.segmentation = np.array([[0.9, 0.1], [0.0, 0.7], [0.0, 0.0]], np.float32)
    mask = mediapipe_mask(rgb)
    assert mask is not None
    assert mask.tolist() == [[True, False], [False, True], [False, False]]
    (pixels,) = fake_mediapipe.seen
    assert pixels.dtype == np.uint8
    assert pixels.shape == (3, 2, 3)
    assert pixels[0, 0].tolist() == [255, 128, 255]


def test_mediapipe_mask_is_none_when_no_person(fake_mediapipe: type[_FakePose]) -> None:
    assert mediapipe_mask(np.zeros((3, 2, 3), dtype=np.float32)) is None


def test_mediapipe_mask_is_none_when_mediapipe_fails(fake_mediapipe: type[_FakePose]) -> None:
    fake_mediapipe.error = RuntimeError("model file missing")
    assert mediapipe_mask(np.zeros((3, 2, 3), dtype=np.float32)) is None
