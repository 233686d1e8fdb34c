"""The inference options issue 5 lists as worth measuring, on the encoders (whole image: both
normal nets, the coarse encoder at S^2 and the fine encoder at (2S)^2, ``PIFuHD.encode``):

- precision and memory layout: float32 in NCHW, float32 channels-last, bfloat16 autocast
  channels-last (``precision="bf16"``, the default on CPUs with AVX-512 BF16 or AMX);
- autograd off: ``torch.no_grad`` against ``torch.inference_mode`` (what the pipeline uses);
- batching: two photos in one call against two calls of one.

Each variant runs ``--repeats`` times after one warm-up, interleaved; the best and median wall
seconds per photo are printed, with each variant's largest feature difference from float32
NCHW. The occupancy query's options (fp32 / bf16, the per-ray paths) are in
``fast_query_paths.py``; ``torch.compile`` was measured in session 7 (BENCHMARKS.md).

    python benchmarks/inference_options.py CHECKPOINT IMAGE --rect "x y w h"
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from _photo import load_photo, photo_parser  # same folder: run as python3 benchmarks/...

from pifuhd.inference import Reconstructor
from pifuhd.models.pifuhd import PIFuHDFeatures


def variants(rec: Reconstructor, coarse: torch.Tensor, fine: torch.Tensor) -> dict:
    """name -> (callable returning per-photo features, photos per call)."""
    model = rec.model
    cl = torch.channels_last

    def fp32(layout: torch.memory_format, mode) -> Callable[[], PIFuHDFeatures]:
        def run() -> PIFuHDFeatures:
            with mode():
                return model.encode(
                    coarse.contiguous(memory_format=layout), fine.contiguous(memory_format=layout)
                )

        return run

    def bf16(mode, batch: int = 1) -> Callable[[], PIFuHDFeatures]:
        c = coarse.repeat(batch, 1, 1, 1).contiguous(memory_format=cl)
        f = fine.repeat(batch, 1, 1, 1).contiguous(memory_format=cl)

        def run() -> PIFuHDFeatures:
            with mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return model.encode(c, f)

        return run

    return {
        "fp32 NCHW, inference_mode": (fp32(torch.contiguous_format, torch.inference_mode), 1),
        "fp32 channels-last, inference_mode": (fp32(cl, torch.inference_mode), 1),
        "bf16 channels-last, no_grad": (bf16(torch.no_grad), 1),
        "bf16 channels-last, inference_mode": (bf16(torch.inference_mode), 1),
        "bf16 channels-last, batch of 2": (bf16(torch.inference_mode, 2), 2),
    }


def main() -> None:
    parser = photo_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rec = Reconstructor(args.checkpoint, device="cpu", resolution=256, precision="bf16")
    image, crop = load_photo(args)
    coarse, fine = rec.network_images(image, crop)
    runs = variants(rec, coarse, fine)
    reference = None
    errors: dict[str, float] = {}
    for name, (run, _) in runs.items():  # warm-up, and the error against fp32 NCHW
        features = run()
        got = features.fine[:1].float()
        reference = got if reference is None else reference
        errors[name] = float((got - reference).abs().max())
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (run, batch) in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / batch)
    print(f"\n{'variant':<38}{'best s/photo':>14}{'median':>10}{'max |fine - fp32|':>20}")
    for name, values in times.items():
        print(
            f"{name:<38}{min(values):>14.2f}{statistics.median(values):>10.2f}{errors[name]:>20.3g}"
        )


if __name__ == "__main__":
    main()
