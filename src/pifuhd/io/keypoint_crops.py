"""Square crops from OpenPose BODY_25 keypoints (``--keypoints``, ``*_keypoints.json``).

Pixel convention: ``pifuhd.io.crops``' module docstring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from pifuhd.errors import InputError
from pifuhd.io.rect import CropRect, square

BODY25_SIZE = 25
"""Number of keypoints in an OpenPose BODY_25 skeleton."""

NOSE, NECK, RSHOULDER, LSHOULDER, MIDHIP = 0, 1, 2, 5, 8
FEET = (11, 19, 21, 22)
"""BODY_25 indices whose detection means the whole body down to the feet is visible."""

CONFIDENT = 0.5
"""Keypoint confidence above which a keypoint is trusted for deciding and measuring."""

USABLE = 0.2
"""Keypoint confidence above which a keypoint's position is used at all."""


def _load_people(source: str | os.PathLike[str] | dict[str, Any]) -> tuple[list[np.ndarray], str]:
    """OpenPose JSON -> list of (25, 3) float64 arrays ``[x, y, confidence]`` and a source name."""
    if isinstance(source, dict):
        data, name = source, "<keypoints>"
    else:
        name = os.fspath(source)
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{name}: no such keypoints file; check the path") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                f"{name}: not a readable OpenPose JSON ({exc}); re-run OpenPose"
            ) from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise InputError(f"{name}: no 'people' list in keypoints JSON; pass OpenPose output")
    skeletons = []
    for person in people:
        values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not values:
            continue
        if len(values) != 3 * BODY25_SIZE:
            raise InputError(
                f"{name}: pose_keypoints_2d has {len(values)} values, expected 75 (BODY_25); "
                "run OpenPose with --model_pose BODY_25"
            )
        skeletons.append(np.asarray(values, dtype=np.float64).reshape(BODY25_SIZE, 3))
    return skeletons, name


def _confident_height(keypoints: np.ndarray) -> float | None:
    """Vertical span of the confident keypoints of one (25, 3) skeleton, None if there are none."""
    ys = keypoints[keypoints[:, 2] > CONFIDENT, 1]
    return float(ys.max() - ys.min()) if ys.size else None


def _tallest_person(skeletons: list[np.ndarray], name: str) -> np.ndarray:
    """The skeleton whose confident keypoints span the largest height (first one on ties)."""
    best, best_height = None, -1.0
    for keypoints in skeletons:
        height = _confident_height(keypoints)
        if height is not None and height > best_height:
            best, best_height = keypoints, height
    if best is None:
        raise InputError(
            f"{name}: no person in keypoints JSON; re-run OpenPose or pass --rect / --mask"
        )
    return best


def _require(keypoints: np.ndarray, index: int, label: str, name: str) -> np.ndarray:
    """Position (2,) of a keypoint that the rule needs, or an InputError if it is missing."""
    if keypoints[index, 2] <= USABLE:
        raise InputError(f"{name}: the {label} keypoint is not detected; pass --rect or --mask")
    return keypoints[index, :2]


def _fullbody_rect(keypoints: np.ndarray, name: str) -> CropRect:
    """Square crop for a whole-body photo from a (25, 3) BODY_25 skeleton."""
    if (keypoints[list(FEET), 2] > CONFIDENT).any():
        points = keypoints[keypoints[:, 2] > USABLE, :2]
        low, high = points.min(axis=0), points.max(axis=0)
        centre = (low + high) / 2
        r = int(0.65 * float(np.max(high - low)))
        return square(int(centre[0]), int(centre[1]), r, name)
    midhip = _require(keypoints, MIDHIP, "mid-hip (8)", name)
    points = keypoints[keypoints[:, 2] > CONFIDENT, :2]
    r = int(1.45 * float(np.linalg.norm(points - midhip, axis=1).max()))
    return square(int(midhip[0]), int(midhip[1]) + int(0.05 * r), r, name)


def _upperbody_rect(keypoints: np.ndarray, name: str) -> CropRect:
    """Square crop for a head-and-torso photo from a (25, 3) BODY_25 skeleton."""
    neck = _require(keypoints, NECK, "neck (1)", name)
    if keypoints[MIDHIP, 2] > USABLE:
        r = int(0.8 * float(np.linalg.norm(keypoints[MIDHIP, :2] - neck)))
    else:
        ratios = {NOSE: 0.4, RSHOULDER: 0.3, LSHOULDER: 0.3}
        scaled = [
            float(np.linalg.norm(keypoints[i, :2] - neck)) / ratio
            for i, ratio in ratios.items()
            if keypoints[i, 2] > USABLE
        ]
        if not scaled:
            raise InputError(f"{name}: no nose, shoulders or hip detected; pass --rect or --mask")
        r = int(0.8 * max(scaled))
    return square(int(neck[0]), int(neck[1]), r, name)


def rect_from_keypoints(
    source: str | os.PathLike[str] | dict[str, Any], mode: str = "fullbody"
) -> CropRect:
    """Square crop from OpenPose BODY_25 keypoints (``{"people": [{"pose_keypoints_2d": ...}]}``).

    With several people, the one whose confident keypoints (confidence > 0.5) span the largest
    height is used. Coordinates are image pixels; centres are truncated to int.

    Args:
        source: path of the JSON file, or the already-parsed JSON dict.
        mode: "fullbody" (whole person, feet included when visible) or "upperbody".
    """
    if mode not in ("fullbody", "upperbody"):
        raise ValueError(f"mode must be 'fullbody' or 'upperbody', got {mode!r}")
    skeletons, name = _load_people(source)
    keypoints = _tallest_person(skeletons, name)
    if mode == "fullbody":
        return _fullbody_rect(keypoints, name)
    return _upperbody_rect(keypoints, name)
