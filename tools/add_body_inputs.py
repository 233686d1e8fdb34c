"""Write a body-guided copy of a trained native checkpoint (new body inputs start at zero).

    python3 tools/add_body_inputs.py src/pifuhd/weights/default runs/body-init
    python3 tools/add_body_inputs.py --normals src/pifuhd/weights/default runs/body-normals-init

The copy computes exactly what the source does until it is trained (``pifuhd train coarse
--init runs/body-init --set bodies=fit --set mlp_only=true``; docs/training.md). The coarse
MLP gets the body's per-point features unless it already reads them; ``--normals`` also gives
the normal nets the fitted body's front/back normal maps (``pifuhd train normals --set
bodies=fit``).
"""

from __future__ import annotations

import argparse
import sys

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.native import read_inference_dict, save_native
from pifuhd.checkpoint.widen import with_body_inputs, with_body_normal_inputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="native checkpoint folder")
    parser.add_argument("out", help="folder to write")
    parser.add_argument(
        "--normals", action="store_true", help="also feed the body's normal maps to the normal nets"
    )
    args = parser.parse_args(argv)
    model, info = load_checkpoint(args.source)
    if not model.config.coarse.body_channels:
        model = with_body_inputs(model)
    if args.normals:
        model = with_body_normal_inputs(model)
    folder = save_native(
        model,
        args.out,
        {"widened_from": str(args.source), **info},
        inference=read_inference_dict(args.source),  # keep the source's pipeline settings
    )
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
