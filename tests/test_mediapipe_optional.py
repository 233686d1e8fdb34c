"""The mediapipe crop path without mediapipe: thresholding, and a stand-in landmarker's results."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from pifuhd.body import detect
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


class _FakeLandmarker:
    """Stand-in for MediaPipe's ``PoseLandmarker``: on the first call one person (landmarks on
    the pixels where ``segmentation`` > 0.5, or none in the image) with that segmentation;
    nobody after (the painted-over second pass)."""

    segmentation: ClassVar[np.ndarray | None] = None
    error: ClassVar[Exception | None] = None
    seen: ClassVar[list[np.ndarray]] = []

    def detect(self, image: SimpleNamespace) -> SimpleNamespace:
        _FakeLandmarker.seen.append(image.data)
        if _FakeLandmarker.error is not None:
            raise _FakeLandmarker.error
        seg = _FakeLandmarker.segmentation
        if seg is None or len(_FakeLandmarker.seen) > 1:
            return SimpleNamespace(
                pose_landmarks=[], pose_world_landmarks=[], segmentation_masks=[]
            )
        rows, cols = np.nonzero(seg > 0.5) if (seg > 0.5).any() else ([-9], [-9])
        height, width = seg.shape
        points = [
            SimpleNamespace(
                x=(cols[i % len(cols)] + 0.5) / width,
                y=(rows[i % len(rows)] + 0.5) / height,
                z=0.0,
                visibility=0.9,
                presence=0.9,
            )
            for i in range(33)
        ]
        return SimpleNamespace(
            pose_landmarks=[points],
            pose_world_landmarks=[points],
            segmentation_masks=[SimpleNamespace(numpy_view=lambda: seg)],
        )


@pytest.fixture
def fake_mediapipe(monkeypatch: pytest.MonkeyPatch) -> type[_FakeLandmarker]:
    module = SimpleNamespace(
        Image=lambda image_format, data: SimpleNamespace(data=data),
        ImageFormat=SimpleNamespace(SRGB="srgb"),
    )
    monkeypatch.setitem(sys.modules, "mediapipe", module)
    monkeypatch.setattr(detect, "pose_landmarker", lambda max_people: _FakeLandmarker())
    monkeypatch.setattr(_FakeLandmarker, "segmentation", None)
    monkeypatch.setattr(_FakeLandmarker, "error", None)
    monkeypatch.setattr(_FakeLandmarker, "seen", [])
    return _FakeLandmarker


def test_mediapipe_mask_feeds_uint8_rgb_and_thresholds(
    fake_mediapipe: type[_FakeLandmarker],
) -> None:
    rgb = np.zeros((3, 2, 3), dtype=np.float32)
    rgb[0, 0] = (1.0, 0.5, 1.5)
    fake_mediapipe.segmentation = np.array([[0.9, 0.1], [0.0, 0.7], [0.0, 0.0]], np.float32)
    mask = mediapipe_mask(rgb)
    assert mask is not None
    assert mask.tolist() == [[True, False], [False, True], [False, False]]
    pixels = fake_mediapipe.seen[0]
    assert pixels.dtype == np.uint8
    assert pixels.shape == (3, 2, 3)
    assert pixels[0, 0].tolist() == [255, 128, 255]


def test_mediapipe_mask_is_none_when_no_person(fake_mediapipe: type[_FakeLandmarker]) -> None:
    assert mediapipe_mask(np.zeros((3, 2, 3), dtype=np.float32)) is None


def test_mediapipe_mask_is_none_when_mediapipe_fails(fake_mediapipe: type[_FakeLandmarker]) -> None:
    fake_mediapipe.error = RuntimeError("model file missing")
    assert mediapipe_mask(np.zeros((3, 2, 3), dtype=np.float32)) is None
