"""Two reconstructions side by side: how much slower each gets than alone, per OpenMP wait policy.

Runs ``pifuhd reconstruct IMAGE -r R`` in fresh processes: alone (``--repeats`` times), then
two at once (``--repeats`` times), for each setting of ``OMP_WAIT_POLICY``:

- ``default``: the variable set but empty, i.e. libgomp's own default (spin a while at every
  barrier before sleeping), what a plain ``import torch`` got before ``pifuhd`` set it;
- ``passive``: what ``pifuhd`` now sets when the variable is unset (threads sleep at once).

Prints the wall seconds of every run and the slowdown of the pair's slower member against the
median alone time. Run it on a quiet machine:

    python3 benchmarks/shared_machine.py examples/person.png -r 256 --repeats 2
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

POLICIES = {"default": "", "passive": "PASSIVE"}


def run_group(image: Path, resolution: int, policy: str, count: int) -> list[float]:
    """Start ``count`` reconstructions at once; their wall seconds."""
    env = {**os.environ, "OMP_WAIT_POLICY": POLICIES[policy]}
    command = [sys.executable, "-m", "pifuhd", "reconstruct", str(image), "-r", str(resolution)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [*command, "-o", str(Path(tmp) / f"out{i}")],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(count)
        ]
        ends = []
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"reconstruct failed (exit {proc.returncode})")
            ends.append(time.perf_counter() - start)
    return ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("-r", "--resolution", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--policies", default="default,passive")
    args = parser.parse_args()
    results = {}
    for policy in args.policies.split(","):
        alone = [run_group(args.image, args.resolution, policy, 1)[0] for _ in range(args.repeats)]
        pairs = [run_group(args.image, args.resolution, policy, 2) for _ in range(args.repeats)]
        base = statistics.median(alone)
        slow = [max(p) / base for p in pairs]
        results[policy] = {"alone_s": alone, "pairs_s": pairs, "pair_slowdown": slow}
        print(
            f"{policy:8s} alone {', '.join(f'{t:.1f}' for t in alone)} s; pairs "
            + "; ".join(", ".join(f"{t:.1f}" for t in p) for p in pairs)
            + f" s; slowdown of the slower of the pair {min(slow):.2f}-{max(slow):.2f}x",
            flush=True,
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
