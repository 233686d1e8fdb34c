"""Settings and results of ``pifuhd prepare`` and the data format version they are written in.

Kept apart from ``prepare`` (the work) and ``manifest`` (the files recording it) so that both
import it and neither imports the other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from pifuhd.errors import InputError

DATA_FORMAT = "pifuhd-data"
DATA_FORMAT_VERSION = 3
"""3: per-view bodies of synthetic subjects (``body/``); 2: each view's calib puts the
subject's volume centroid at cube z = 0 (1: the box centre)."""

RENDERS_FORMAT_VERSION = 2
"""The format of the renders and samples alone (hashed into the settings' digest). Format 3
only added files, so subjects of format 2 stay complete and ``prepare`` adds their bodies."""

BODY_LEVELS = ("none", "true", "fit")
"""``PrepareConfig.bodies``, each level including the ones before it."""


LIGHT_PRESETS = ("wild", "intermediate", "clear")


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of ``pifuhd prepare``; everything that changes the outputs is here."""

    views: int = 36
    """Yaw angles per subject, evenly spaced from 0 (the paper rendered 180, every 2 degrees)."""
    size: int = 1024
    """Side of the rendered maps; the colour image is also written at ``size // 2``."""
    presets: tuple[str, ...] = ()
    """Extra colour renders under fixed lights: any of 'wild', 'intermediate', 'clear'."""
    surface_samples: int = 100_000
    """Gaussian-perturbed surface samples per sigma."""
    sigmas_cm: tuple[float, ...] = (5.0, 3.0, 15.0)
    """Perturbation sigmas: coarse level 5 cm, fine level 3 cm (paper), and a wide one."""
    uniform_samples: int = 100_000
    """Uniform samples in ``UNIFORM_BOX_CM``."""
    color_samples: int = 100_000
    """Surface points with albedo and normal for the colour network."""
    prt_dirs: int = 64
    """Ray directions per vertex for the precomputed radiance transfer."""
    seed: int = 0
    up: str = "auto"
    units: str = "auto"
    bodies: str = "fit"
    """Per-view bodies of synthetic subjects: 'fit' (true and fitted to the render, about
    2-3 s a view), 'true' (the true body only; fast) or 'none'."""

    def digest(self) -> str:
        """Short hash of what the renders and samples depend on (every setting but ``bodies``,
        and ``RENDERS_FORMAT_VERSION``): a finished subject's renders are reused only if it
        matches. Bodies are tracked apart (``subject.json`` "bodies"), so adding them to a
        finished subject never re-renders it; the hash equals that of data format 2."""
        settings = {k: v for k, v in asdict(self).items() if k != "bodies"}
        text = json.dumps({**settings, "format": RENDERS_FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def validate(self) -> None:
        """Raise ``InputError`` naming the bad option."""
        if self.views < 1:
            raise InputError("--views must be at least 1")
        if self.size < 8 or self.size % 2:
            raise InputError("--size must be an even number of pixels, at least 8")
        if self.bodies not in BODY_LEVELS:
            raise InputError(f"--bodies {self.bodies!r}: use one of {', '.join(BODY_LEVELS)}")
        unknown = set(self.presets) - set(LIGHT_PRESETS)
        if unknown:
            raise InputError(
                f"unknown light preset {sorted(unknown)[0]!r}; use {', '.join(LIGHT_PRESETS)}"
            )


@dataclass
class SubjectResult:
    """Outcome of one subject: 'done', 'skipped' (already complete) or 'failed'."""

    name: str
    status: str
    source: str
    seconds: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)
