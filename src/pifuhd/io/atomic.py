"""Atomic file writes: write under a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    Missing parent folders are created; the file gets mode 0o644 (``mkstemp`` gives 0o600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(staging: Path, names: list[str], out_dir: Path) -> list[Path]:
    """Move the finished files ``names`` from a staging folder on the same file system into
    ``out_dir`` (each an atomic rename), returning their final paths."""
    finals = []
    for name in names:
        os.replace(staging / name, out_dir / name)
        finals.append(out_dir / name)
    return finals
