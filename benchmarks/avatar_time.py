"""Photo to avatar: ``pifuhd avatar IMAGE -r R`` in fresh processes, with its stages.

Each run is a new ``python -m pifuhd avatar`` process with the bundled default model (start-up,
imports, detection, the body fit, the encoders, the grid, rigging, the clips, the files and the
interpreter's exit). Prints every run's wall seconds and the stage seconds its
``<stem>_avatar.json`` records, then the medians. Run it on a quiet machine:

    python3 benchmarks/avatar_time.py examples/person.png -r 256 --repeats 3 \\
        --canonical unpose,pullback
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(image: Path, resolution: int, canonical: str) -> tuple[float, dict[str, float]]:
    """(wall s, stage -> s) of one fresh avatar; raises when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pifuhd", "avatar", str(image), "-r", str(resolution)]
        command += ["-o", tmp, "--canonical", canonical]
        start = time.perf_counter()
        done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}")
        info = json.loads((Path(tmp) / f"{image.stem}_avatar.json").read_text())
    return wall, info["timings_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--canonical", default="unpose", help="comma-separated methods")
    args = parser.parse_args()
    report = {}
    for method in args.canonical.split(","):
        walls, stages = [], []
        for i in range(args.repeats):
            wall, timing = one_run(args.image, args.resolution, method)
            walls.append(wall)
            stages.append(timing)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(timing.items()))
            print(f"{method} run {i + 1}: {wall:.2f} s ({shown})", flush=True)
        medians = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
        print(
            f"{method}: median {statistics.median(walls):.2f} s, range {min(walls):.2f}-"
            f"{max(walls):.2f} s; stage medians "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(medians.items()))
        )
        report[method] = {"wall_s": walls, "stage_medians_s": medians}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
