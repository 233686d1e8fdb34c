"""Where a person's surface may lie: the carving bounds of one person in one photo.

Puts together the person mask's silhouette (``pifuhd.geometry.carving``) and, when the settings
ask for it, the depth range around the body fitted to the photo (``pifuhd.geometry.body_depth``,
``pifuhd.body.photo.fit_person``), as the (2, M, M) (low, high) z bounds the grid's carved
query reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pifuhd.body.anny import AnnyMissingError
from pifuhd.geometry.body_depth import body_depth_range
from pifuhd.geometry.body_field import body_field, sample_field
from pifuhd.geometry.body_normals import body_normal_maps
from pifuhd.geometry.carving import ALLOWED_SIZE, allowed_region, depth_range
from pifuhd.inference_settings import InferenceSettings
from pifuhd.io.images import LoadedImage
from pifuhd.io.people import PersonInput

log = logging.getLogger(__name__)

GUARD_FIT_STEPS = (20, 50, 30)
"""The body fit's Adam steps per stage here: half the shape-and-silhouette steps of
``pifuhd fit-body`` (the mask already bounds x and y). On 24 held-out views: MPJPE 6.02 cm
against 6.06, body P2S 4.49 against 4.74, silhouette IoU 0.829 against 0.846; 0.5 s less."""

_PREFETCH: dict[str, Any] = {}


def prefetch_body_model() -> None:
    """Start building the fitter's body model (importing Anny, about 1.4 s, and the fitting
    body) in a background thread, so that it overlaps the photo's loading, detection and
    encoding; :func:`person_bounds` waits for it. Once per process."""
    if "thread" in _PREFETCH:
        return

    def work() -> None:
        try:
            from pifuhd.body.anny import load_anny
            from pifuhd.body.fit import fit_body_model

            fit_body_model(load_anny())
        except Exception as exc:  # handed to the waiting thread and raised there
            _PREFETCH["error"] = exc

    thread = threading.Thread(target=work, name="pifuhd-body-prefetch", daemon=True)
    _PREFETCH["thread"] = thread
    thread.start()


def wait_for_body_model() -> None:
    """Wait for :func:`prefetch_body_model`'s thread (if any) and raise what it raised."""
    thread = _PREFETCH.get("thread")
    if thread is not None:
        thread.join()
    error = _PREFETCH.pop("error", None)
    if error is not None:
        raise error


@dataclass
class Bounds:
    """Carving bounds of one person.

    Attributes:
        bounds: (2, M, M) float32 (low, high) cube z per cell of the crop square, or None (no
            carving).
        body_vertices: (V, 3) cube vertices of the fitted body, or None (no body fit).
        body_faces: (F, 3) its faces, or None.
        seconds: wall seconds of the body fit (0 without one).
        notes: what the user should know (why no body was used, the fit's own warnings).
        fit: the ``pifuhd.body.observations.BodyFit`` itself (shape, pose), or None.
    """

    bounds: np.ndarray | None
    body_vertices: np.ndarray | None = None
    body_faces: np.ndarray | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    fit: Any = None


def person_bounds(
    image: LoadedImage,
    person: PersonInput,
    settings: InferenceSettings,
    need_body: bool = False,
    body: tuple[np.ndarray, np.ndarray] | None = None,
) -> Bounds:
    """The carving bounds of ``person`` in ``image`` under ``settings`` (module docstring).

    The body is fitted when the settings bound depth by it, or when ``need_body`` (a
    body-guided model reads it); it is returned in ``body_vertices`` / ``body_faces``.
    ``body``: (V, 3) cube vertices and (F, 3) faces used instead of a fit (an evaluation's
    oracle: the true body); ``fit`` is then None.
    """
    by_body = settings.carve and settings.body_depth
    allowed = None
    if settings.carve:
        size = (image.height, image.width)
        allowed = allowed_region(person.mask, person.crop, size, settings.carve_margin)
    plain = None if allowed is None else depth_range(allowed)
    if not (by_body or need_body):
        return Bounds(plain)
    if body is not None:
        vertices, faces, seconds, notes, fit = *body, 0.0, ["body given, not fitted"], None
    else:
        fit, seconds, notes = fit_for_guards(image, person)
        if fit is None:
            return Bounds(plain, seconds=seconds, notes=notes)
        vertices, faces = fit.vertices, fit.faces
    if not by_body:
        return Bounds(plain, vertices, faces, seconds, notes, fit)
    margins = (settings.body_margin, settings.body_slope)
    bound = body_depth_range(vertices, faces, ALLOWED_SIZE, *margins)
    return Bounds(depth_range(allowed, bound), vertices, faces, seconds, notes, fit)


def fit_for_guards(image: LoadedImage, person: PersonInput) -> tuple[Any, float, list[str]]:
    """(the fitted body or None, wall seconds, notes): ``fit_person`` with
    :data:`GUARD_FIT_STEPS`; None with a note when there are no landmarks, Anny is missing, or
    the fit fell back to another crop (another cube)."""
    if person.landmarks is None:
        note = "no body fit (no MediaPipe landmarks of the person): no body used"
        log.info(note)
        return None, 0.0, [note]
    from pifuhd.body.fit import FitSettings
    from pifuhd.body.photo import fit_person

    start = time.perf_counter()
    try:
        wait_for_body_model()
        fit = fit_person(
            person.landmarks, image.rgb, person.crop, FitSettings(iterations=GUARD_FIT_STEPS)
        )
    except AnnyMissingError as exc:
        note = f"no body fit ({exc}): no body used"
        log.warning(note)
        return None, time.perf_counter() - start, [note]
    seconds = time.perf_counter() - start
    notes = [f"body fit: {w}" for w in fit.warnings]
    if fit.crop != person.crop:  # the fit fell back to the person's own crop: another cube
        notes.append("the body fit is not in the crop's frame: no body used")
        return None, seconds, notes
    return fit, seconds, notes


def body_features(bounds: Bounds) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A body-guided model's ``PIFuHDFeatures.body``: points (N, 3) in the cube -> (4, N)
    features of the fitted body (``pifuhd.geometry.body_field``), or None without a fit."""
    if bounds.body_vertices is None:
        return None
    field = body_field(bounds.body_vertices, bounds.body_faces)

    def features(points: torch.Tensor) -> torch.Tensor:
        return sample_field(field, points.cpu()).to(points.device)

    return features


def body_normal_input(bounds: Bounds, size: int) -> torch.Tensor | None:
    """(1, 6, size, size) the fitted body's front/back normal maps for normal nets that read
    them (``pifuhd.geometry.body_normals``); None when no body was fitted (they get zeros)."""
    if bounds.body_vertices is None:
        return None
    maps = body_normal_maps(bounds.body_vertices, bounds.body_faces, size)
    return torch.from_numpy(maps.reshape(1, 6, size, size))
