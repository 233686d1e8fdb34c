#!/usr/bin/env bash
# Scratch environment for running the ORIGINAL PIFuHD next to ours (benchmarks/vs_reference.py).
#
# The original (PyPI `pifu-hd`, module `PIFuHD`, CC BY-NC 4.0) is installed here only to be run
# and measured; it is never a dependency of this project and none of its code is copied into
# this repository. Usage (idempotent, safe to re-run):
#
#     bash benchmarks/reference_env.sh [ENV_DIR]      # default /work/scratch/ref_env
#
# Then: python3 benchmarks/vs_reference.py --ref-python ENV_DIR/bin/python
#
# What it makes:
#   ENV_DIR            a venv with --system-site-packages, so it reuses the system torch (never
#                      installed or upgraded here: pifu-hd goes in with --no-deps and the extras
#                      are pinned by constraints.txt, which pins torch to the installed version)
#   ENV_DIR/stub/      a minimal `torchvision.transforms` (Compose, ToTensor, Normalize: all the
#                      original uses of torchvision), our own code, put on PYTHONPATH by the
#                      benchmark; there is no CPU torchvision build to install here.
set -euo pipefail

ENV_DIR="${1:-/work/scratch/ref_env}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="$REPO/constraints.txt"
PY="${PYTHON:-python3}"

if [ ! -x "$ENV_DIR/bin/python" ]; then
    echo "creating venv $ENV_DIR"
    "$PY" -m venv --system-site-packages "$ENV_DIR"
fi
VPY="$ENV_DIR/bin/python"
torch_before="$("$VPY" -c 'import torch; print(torch.__version__)')"

# The original without its declared dependencies (torchvision, opencv-python with GUI libs,
# PyOpenGL, ffmpeg are not needed for reconstruction), then what it imports on that path.
if ! "$VPY" -m pip show pifu-hd >/dev/null 2>&1; then
    "$VPY" -m pip install --no-deps pifu-hd
fi
"$VPY" -m pip install -c "$CONSTRAINTS" opencv-python-headless scikit-image trimesh tqdm pillow

torch_after="$("$VPY" -c 'import torch; print(torch.__version__)')"
if [ "$torch_before" != "$torch_after" ]; then
    echo "error: torch changed from $torch_before to $torch_after; check $CONSTRAINTS" >&2
    exit 1
fi

mkdir -p "$ENV_DIR/stub/torchvision"
cat >"$ENV_DIR/stub/torchvision/__init__.py" <<'EOF'
"""Minimal stand-in for torchvision: only what the original PIFuHD's data loader uses."""
EOF
cat >"$ENV_DIR/stub/torchvision/transforms.py" <<'EOF'
"""Compose / ToTensor / Normalize with torchvision's semantics, in torch and numpy."""

import numpy as np
import torch


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    """PIL image or (H, W[, C]) array -> (C, H, W) float32; uint8 values divided by 255."""

    def __call__(self, pic):
        arr = np.asarray(pic)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        tensor = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        if arr.dtype == np.uint8:
            return tensor.float().div(255.0)
        return tensor.float()


class Normalize:
    """(x - mean) / std per channel."""

    def __init__(self, mean, std):
        self.mean = torch.as_tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.as_tensor(std, dtype=torch.float32)[:, None, None]

    def __call__(self, tensor):
        return (tensor - self.mean) / self.std
EOF

PYTHONPATH="$ENV_DIR/stub" "$VPY" -c '
import cv2, skimage, trimesh, torch
import torchvision.transforms
import PIFuHD
from PIFuHD.recontructor import Reconstructor
from PIFuHD.data import EvalWRectDataset
print("reference env ok: PIFuHD", PIFuHD.__version__, "torch", torch.__version__,
      "cv2", cv2.__version__, "skimage", skimage.__version__)
'
echo "python: $VPY"
echo "stub:   $ENV_DIR/stub"
