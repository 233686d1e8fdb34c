"""Write one reconstruction's files, and run a batch of photos with per-image errors.

Per photo ``<stem>``: the mesh ``<stem>.<obj|ply|glb>``, ``<stem>_normal_front.png`` and
``<stem>_normal_back.png`` (normal maps mapped from [-1, 1] to [0, 255]) and ``<stem>.json``
(crop, resolution, timings, checkpoint). A textured reconstruction carries vertex colours in
the mesh (OBJ ``v x y z r g b``, PLY and GLB colour attributes); with ``uv_size`` also a
UV-mapped copy ``<stem>_uv.obj`` + ``.mtl`` + ``.png`` (``pifuhd.io.texture``, needs xatlas).
Every file is first written into a temporary folder
beside the outputs and renamed into place only when all of them exist, so a failure leaves
nothing half-written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pifuhd.batch import ItemReport, run_batch
from pifuhd.inference import Frame, Reconstruction, Reconstructor
from pifuhd.io.atomic import publish, staging_folder
from pifuhd.io.images import write_png
from pifuhd.io.mesh import save_mesh
from pifuhd.io.texture import textured_obj_files, uv_atlas

log = logging.getLogger(__name__)
NORMAL_NAMES = ("normal_front", "normal_back")


def normal_to_uint8(normal: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [-1, 1] -> (H, W, 3) uint8, n -> round((n + 1) / 2 * 255)."""
    return np.clip(np.rint((normal + 1.0) * 127.5), 0, 255).astype(np.uint8)


def write_outputs(
    result: Reconstruction,
    out_dir: str | os.PathLike,
    stem: str,
    fmt: str = "obj",
    extra: dict[str, Any] | None = None,
    uv_size: int = 0,
) -> list[Path]:
    """Write the mesh, normal maps and JSON of ``result`` (and, with ``uv_size`` > 0 and
    vertex colours, the UV-textured OBJ of about that texture side); returns the final
    paths, the mesh first."""
    out_dir = Path(out_dir)
    with staging_folder(out_dir, stem) as staging:
        names = [f"{stem}.{fmt}"]
        save_mesh(result.mesh, staging / names[0], fmt)
        for label, normal in zip(NORMAL_NAMES, result.normals, strict=False):
            names.append(f"{stem}_{label}.png")
            write_png(staging / names[-1], normal_to_uint8(normal))
        if uv_size > 0:
            for name, data in textured_obj_files(
                uv_atlas(result.mesh, uv_size), f"{stem}_uv"
            ).items():
                (staging / name).write_bytes(data)
                names.append(name)
        names.append(f"{stem}.json")
        info = {**result.info(), **(extra or {})}
        (staging / names[-1]).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return publish(staging, names, out_dir)


def reconstruct_files(
    reconstructor: Reconstructor,
    images: Sequence[Path],
    out_dir: str | os.PathLike,
    fmt: str = "obj",
    frame: Frame = "cube",
    rect: str | None = None,
    keypoints: str | os.PathLike | None = None,
    mask: str | os.PathLike | None = None,
    keypoints_mode: str = "fullbody",
    on_start: Callable[[Path], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    uv_size: int = 0,
    all_people: bool = False,
) -> list[ItemReport]:
    """Reconstruct each image; a failure on one (a ``PifuhdError``) is reported and the
    others go on. Unexpected exceptions (bugs) propagate. With ``all_people`` every person
    found gets ``<stem>_person<K>.*`` (K = 0 the largest); otherwise the largest gets
    ``<stem>.*`` (with a warning in its JSON when there were more)."""

    def work(image: Path) -> list[Path]:
        results = reconstructor.people(
            image,
            rect=rect,
            keypoints=keypoints,
            mask=mask,
            frame=frame,
            progress=progress,
            keypoints_mode=keypoints_mode,
            all_people=all_people,
        )
        outputs = []
        for index, result in enumerate(results):
            extra = {
                "image": str(image),
                "checkpoint": reconstructor.checkpoint_info.get("path"),
                "person": index,
            }
            stem = f"{image.stem}_person{index}" if all_people else image.stem
            outputs += write_outputs(result, out_dir, stem, fmt, extra, uv_size)
        return outputs

    return run_batch(images, work, on_start)
