"""A batch of photos: run each, report each, and let one photo's bad input not stop the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pifuhd.errors import PifuhdError

log = logging.getLogger(__name__)


@dataclass
class ItemReport:
    """Outcome of one photo of a batch: its written files, or the error; warnings to show."""

    image: Path
    ok: bool
    outputs: list[Path]
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


Work = Callable[[Path], "list[Path] | tuple[list[Path], list[str]]"]


def run_batch(
    images: Sequence[Path],
    work: Work,
    on_start: Callable[[Path], None] | None = None,
    stop: tuple[type[BaseException], ...] = (),
) -> list[ItemReport]:
    """``work(image)`` for each image: the written files, or (files, warnings). A failure on
    one (a ``PifuhdError``) is reported and the others go on; errors of the types in ``stop``
    (the same for every photo, e.g. a missing dependency) and unexpected exceptions (bugs)
    propagate."""
    reports = []
    for image in images:
        image = Path(image)
        if on_start is not None:
            on_start(image)
        try:
            done = work(image)
        except stop:
            raise
        except PifuhdError as exc:
            log.debug("failed on %s", image, exc_info=True)
            reports.append(ItemReport(image=image, ok=False, outputs=[], error=str(exc)))
            continue
        outputs, warnings = done if isinstance(done, tuple) else (done, [])
        reports.append(ItemReport(image=image, ok=True, outputs=outputs, warnings=warnings))
    return reports
