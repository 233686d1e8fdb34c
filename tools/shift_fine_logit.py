"""Write a copy of a native checkpoint with its fine surface moved by a logit shift.

    python3 tools/shift_fine_logit.py runs/body-fine/checkpoints/step_0000300 runs/cal-0.8 -0.8

The shift is added to the fine MLP's pre-sigmoid output (``pifuhd.checkpoint.calibrate``);
choose it on validation views (``pifuhd evaluate --data DATA --subjects VALIDATION``), never on
the held-out ones. The copy keeps the source's pipeline settings and records the shift.
"""

from __future__ import annotations

import argparse
import sys

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.calibrate import with_fine_logit_shift
from pifuhd.checkpoint.native import read_inference_dict, save_native


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="native checkpoint folder")
    parser.add_argument("out", help="folder to write")
    parser.add_argument("shift", type=float, help="added to the fine logit (< 0: thinner)")
    args = parser.parse_args(argv)
    model, info = load_checkpoint(args.source)
    total = float(info.get("fine_logit_shift", 0.0)) + args.shift
    folder = save_native(
        with_fine_logit_shift(model, args.shift),
        args.out,
        {**info, "shifted_from": str(args.source), "fine_logit_shift": total},
        inference=read_inference_dict(args.source),
    )
    print(f"wrote {folder} (fine logit shift {total:+g} in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
