"""A new user's first minutes: the body model's first build is announced, ``-v`` shows
pifuhd's own lines and not the image library's, and ``results/`` stays out of git."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pifuhd.body.anny import cache_is_cold
from pifuhd.cli import configure_logging

ROOT = Path(__file__).parents[1]


def test_a_cold_anny_cache_is_recognised(tmp_path: Path) -> None:
    assert cache_is_cold(tmp_path / "missing")
    assert cache_is_cold(tmp_path)
    (tmp_path / "v14").mkdir()
    assert not cache_is_cold(tmp_path)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("pifuhd", "PIL")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_verbose_shows_pifuhd_lines_only() -> None:
    configure_logging(verbose=True)
    assert logging.getLogger("pifuhd.inference").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("PIL.PngImagePlugin").isEnabledFor(logging.DEBUG)
    configure_logging(verbose=False)
    assert not logging.getLogger("pifuhd.inference").isEnabledFor(logging.INFO)
    assert logging.getLogger("pifuhd.body.anny").isEnabledFor(logging.WARNING)


def test_results_folder_is_ignored_by_git() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "check-ignore", "-q", "results/demo/person.obj"], cwd=ROOT, check=False
    )
    assert done.returncode == 0
