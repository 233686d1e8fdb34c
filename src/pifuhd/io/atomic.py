"""Atomic file writes: write under a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
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


@contextlib.contextmanager
def staging_folder(out_dir: str | os.PathLike[str], prefix: str) -> Iterator[Path]:
    """Yield a fresh temporary folder inside ``out_dir`` (created), removed afterwards with
    whatever is left in it; :func:`publish` moves the finished files out of it first."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{prefix}-", dir=out))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, names: list[str], out_dir: Path) -> list[Path]:
    """Move the finished files ``names`` from a staging folder on the same file system into
    ``out_dir`` (each an atomic rename), returning their final paths."""
    finals = []
    for name in names:
        os.replace(staging / name, out_dir / name)
        finals.append(out_dir / name)
    return finals
