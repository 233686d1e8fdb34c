"""Run logs: ``RUN/metrics.jsonl`` (always), TensorBoard events (when installed), console.

Each line of metrics.jsonl is one event: ``{"event": "train" | "val" | "checkpoint" |
"sync" | ..., "step": int, "time": unix seconds, ...values}``; plot curves from it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from pifuhd.io.atomic import atomic_write

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the records after ``step`` (written by a run that was killed after its last
    checkpoint), so a resumed run's file has each step once. Atomic."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
        if int(record.get("step", 0)) <= step:
            kept.append(line)
    with atomic_write(path) as tmp:
        tmp.write_text("".join(k + "\n" for k in kept))


def _plain(value: Any) -> Any:
    """JSON-friendly value: tensors and numpy scalars to floats, NaN / inf to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunLog:
    """Writes events of rank 0 to metrics.jsonl and TensorBoard; other ranks write nothing."""

    def __init__(self, run: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run) / METRICS
        self._file = None
        self._writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        if tensorboard:
            self._writer = _tensorboard_writer(Path(run) / "tensorboard")

    def record(self, event: str, step: int, **values: Any) -> None:
        """Append one event; numeric values also go to TensorBoard as ``event/name``."""
        if not self.enabled or self._file is None:
            return
        entry = {"event": event, "step": step, "time": round(time.time(), 3)}
        entry.update({k: _plain(v) for k, v in values.items()})
        self._file.write(json.dumps(entry, sort_keys=True) + "\n")
        self._file.flush()
        if self._writer is not None:
            for key, value in entry.items():
                if key not in ("step", "time") and isinstance(value, int | float):
                    self._writer.add_scalar(f"{event}/{key}", value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _tensorboard_writer(folder: Path) -> Any:
    """A SummaryWriter, or None (logged once) when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard is not installed: metrics go to metrics.jsonl only")
        return None
    return SummaryWriter(log_dir=str(folder))
