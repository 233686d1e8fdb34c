"""End to end: ``pifuhd reconstruct IMAGE -r R`` in fresh processes, as a user runs it.

Each run is a new ``python -m pifuhd`` process (start-up, imports, MediaPipe, the body fit, the
encoders, the grid, the files and the interpreter's exit), with the bundled default model unless
``--checkpoint`` is given. Prints every run's wall seconds and peak memory of the process tree,
then the median, the spread and how many runs met ``--goal``. Run it on a quiet machine:

    python3 benchmarks/end_to_end.py examples/person.png -r 256 --repeats 5
    python3 benchmarks/end_to_end.py examples/person.png -r 256 --with "--texture blend"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _process_memory import run_sampled


def one_run(
    image: Path, resolution: int, checkpoint: Path | None, extra: list[str] | None = None
) -> tuple[float, float]:
    """(wall s, peak MB) of one fresh reconstruction; raises when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pifuhd", "reconstruct", str(image)]
        command += ["-r", str(resolution), "-o", tmp]
        if checkpoint is not None:
            command += ["--checkpoint", str(checkpoint)]
        command += extra or []
        code, _, wall, peak = run_sampled(command, dict(os.environ))
        if code != 0:
            raise RuntimeError(f"{' '.join(command)} failed (exit {code})")
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("--checkpoint", type=Path, help="default: the bundled model")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--goal", type=float, default=10.0, help="seconds (issue 18: 10)")
    parser.add_argument(
        "--with",
        dest="extra",
        default="",
        help='more reconstruct options in one string, e.g. --with "--texture blend"',
    )
    args = parser.parse_args()
    walls, peaks = [], []
    for i in range(args.repeats):
        wall, peak = one_run(args.image, args.resolution, args.checkpoint, args.extra.split())
        walls.append(wall)
        peaks.append(peak)
        print(f"run {i + 1}: {wall:.2f} s, peak {peak:.0f} MB", flush=True)
    met = sum(w < args.goal for w in walls)
    print(
        f"median {statistics.median(walls):.2f} s, range {min(walls):.2f}-{max(walls):.2f} s, "
        f"peak {min(peaks):.0f}-{max(peaks):.0f} MB; under {args.goal:g} s in {met} of {len(walls)}"
    )
    print(json.dumps({"wall_s": walls, "peak_mb": peaks, "goal_s": args.goal, "met": met}))


if __name__ == "__main__":
    main()
