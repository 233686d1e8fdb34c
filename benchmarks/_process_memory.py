"""Run a worker process while sampling the memory of its process tree.

A forked child (our marching cubes runs its upper slab in one) shares the parent's pages, which
the child's own RSS would count again; the tree's memory is taken as the worker's resident set
plus its children's private pages, sampled from this (idle) process.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

SAMPLE_S = 0.05


def run_sampled(cmd: list[str], env: dict[str, str]) -> tuple[int, str, float, float]:
    """Run ``cmd``; returns (exit code, its stdout, wall s, peak tree MB sampled every
    ``SAMPLE_S``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_memory_mb(proc.pid))
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    reader.join()
    return proc.returncode, "".join(output), wall, peak


def tree_memory_mb(pid: int) -> float:
    """MB resident in ``pid`` (VmRSS) plus the private pages (Private_Clean + Private_Dirty)
    of its children; 0 when the process is gone."""
    try:
        total = _field_kb(f"/proc/{pid}/status", "VmRSS:")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for child in children:
            rollup = f"/proc/{child}/smaps_rollup"
            total += _field_kb(rollup, "Private_Clean:") + _field_kb(rollup, "Private_Dirty:")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0
    return total / 1024


def _field_kb(path: str, key: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0
