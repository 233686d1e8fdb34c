"""Test helper: a MediaPipe detection built from given landmarks and mask."""

from __future__ import annotations

import numpy as np

from pifuhd.body.detect import PersonLandmarks


def seen_person(image_xy: np.ndarray, world: np.ndarray, mask: np.ndarray) -> PersonLandmarks:
    """A detection with (33, 2) ``image_xy``, (33, 3) ``world``, an (H, W) bool ``mask`` and
    every landmark fully visible."""
    return PersonLandmarks(
        image_xy=image_xy,
        visibility=np.ones(33),
        presence=np.ones(33),
        world=world,
        mask=mask.astype(np.float32),
        score=1.0,
    )
