"""``pifuhd demo``: the whole story in one command.

Make a held-out synthetic person, render a photo of it, reconstruct it with the default model,
evaluate the mesh against the truth (and against the silhouette-inflation baseline), and write
the meshes, a side-by-side picture and the metrics.

Frames: the photo is the yaw-0 view of the person normalised as ``pifuhd prepare`` does
(``pifuhd.data.asset``); its crop is the whole 1024² image, so the reconstruction's cube is the
view's cube and ``subject = CUBE_HALF_CM * cube``. Meshes are written in that subject frame (cm).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw

from pifuhd.data.asset import CUBE_HALF_CM, MeshAsset
from pifuhd.eval.metrics import GeometryMetrics, geometry_metrics
from pifuhd.io.atomic import atomic_write
from pifuhd.io.mesh import save_mesh

log = logging.getLogger(__name__)

DEMO_SEED = 987_654_321
"""Seed of the demo person: not a seed `pifuhd synth` draws for training data."""
PHOTO_SIZE = 1024
TILE = 320


@dataclass
class DemoResult:
    out: Path
    metrics: GeometryMetrics
    baseline: GeometryMetrics
    timings: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def run_demo(
    out: Path,
    *,
    checkpoint: str | Path | None = None,
    seed: int = DEMO_SEED,
    resolution: int = 256,
    device: str = "auto",
    person: Callable[[int], MeshAsset] | None = None,
    stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo into ``out`` (see the module docstring); returns metrics and timings.

    Args:
        checkpoint: a checkpoint (default: the bundled default model).
        person: ``seed -> MeshAsset`` in the subject frame (default: an Anny person via
            ``pifuhd synth``, normalised like ``pifuhd prepare``).
        stage: called with the name of each stage as it starts (progress display).
    """
    from pifuhd.data.lighting import light_preset
    from pifuhd.data.render import SubjectRenderer
    from pifuhd.eval.baseline import inflate_silhouette
    from pifuhd.inference import Reconstructor
    from pifuhd.weights import default_checkpoint

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    say = stage or (lambda name: None)

    start = time.perf_counter()
    say("person")
    truth = depth_centred((person or anny_person)(seed), seed)
    timings["person_s"] = time.perf_counter() - start

    start = time.perf_counter()
    say("photo")
    renderer = SubjectRenderer(truth, prt_dirs=64, seed=seed)
    view = renderer.render(0.0, PHOTO_SIZE, light_preset("intermediate"))
    photo = composite(view.rgb, view.mask)
    timings["render_s"] = time.perf_counter() - start

    start = time.perf_counter()
    say("reconstruct")
    ckpt = checkpoint if checkpoint is not None else default_checkpoint()
    recon = Reconstructor(ckpt, device=device, resolution=resolution)(
        photo, rect=f"0 0 {PHOTO_SIZE} {PHOTO_SIZE}"
    )
    timings["reconstruct_s"] = time.perf_counter() - start
    timings.update({f"reconstruct_{k}_s": v for k, v in recon.timings.items()})
    pred = recon.mesh.copy()
    pred.apply_scale(CUBE_HALF_CM)

    start = time.perf_counter()
    say("evaluate")
    gt = (truth.vertices, truth.faces)
    metrics = geometry_metrics((np.asarray(pred.vertices), np.asarray(pred.faces)), gt)
    baseline_mesh = inflate_silhouette(view.mask, resolution)
    baseline_mesh.apply_scale(CUBE_HALF_CM)
    baseline = geometry_metrics(
        (np.asarray(baseline_mesh.vertices), np.asarray(baseline_mesh.faces)), gt
    )
    timings["evaluate_s"] = time.perf_counter() - start

    say("write")
    files = [
        _write_png(out / "photo.png", photo),
        save_mesh(pred, out / "reconstruction.obj"),
        save_mesh(trimesh.Trimesh(truth.vertices, truth.faces, process=False), out / "truth.obj"),
        save_mesh(baseline_mesh, out / "baseline.obj"),
    ]
    sheet = side_by_side(photo, recon.normals, pred, truth)
    files.append(_write_png(out / "demo.png", sheet))
    result = DemoResult(out, metrics, baseline, timings, files)
    files.append(_write_text(out / "metrics.json", json.dumps(demo_report(result, ckpt), indent=2)))
    return result


def depth_centred(asset: MeshAsset, seed: int) -> MeshAsset:
    """``asset`` moved along z so its volume centroid is at z = 0: the depth origin the
    training views use (``docs/data_format.md``), which a single photo cannot show, so the
    truth is compared in that frame. The photo (orthographic, along z) does not change."""
    from pifuhd.data.sample import volume_centroid

    centre = volume_centroid(asset.vertices, asset.faces, np.random.default_rng(seed))
    vertices = np.asarray(asset.vertices, dtype=np.float64).copy()
    vertices[:, 2] -= centre[2]
    return replace(asset, vertices=vertices.astype(asset.vertices.dtype))


def anny_person(seed: int) -> MeshAsset:
    """A synthetic person normalised exactly as ``pifuhd prepare`` normalises scans."""
    from pifuhd.data.scan import load_scan
    from pifuhd.synth.people import make_person, write_person

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_person(make_person(seed), Path(tmp) / "person")
        asset, _ = load_scan(folder / "mesh.obj", up="y", units="cm", name="demo")
    return asset


def composite(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(S, S, 3) render over a soft vertical grey gradient: a photo-like (S, S, 3) in [0, 1]."""
    size = rgb.shape[0]
    ramp = np.linspace(0.82, 0.62, size, dtype=np.float32)[:, None, None]
    background = np.broadcast_to(ramp, rgb.shape)
    alpha = mask[..., None].astype(np.float32)
    return rgb * alpha + background * (1.0 - alpha)


def shaded_views(vertices: np.ndarray, faces: np.ndarray, size: int) -> list[np.ndarray]:
    """Normal-shaded renders (yaw 0, 90, 180, 270) of a mesh in the subject frame."""
    from pifuhd.data.render import SubjectRenderer

    renderer = SubjectRenderer(MeshAsset(vertices=vertices, faces=faces), prt_dirs=1)
    light = np.array([0.3, 0.4, 1.0])
    light /= np.linalg.norm(light)
    views = []
    for yaw in (0.0, 90.0, 180.0, 270.0):
        maps = renderer.render(yaw, size, np.zeros((9, 3)))
        shade = np.clip(maps.normal_front @ light, 0.0, 1.0) * 0.75 + 0.2
        image = np.where(maps.mask[..., None], shade[..., None] * [0.85, 0.9, 1.0], 1.0)
        views.append(image.astype(np.float32))
    return views


def side_by_side(
    photo: np.ndarray, normals: list[np.ndarray], pred: trimesh.Trimesh, truth: MeshAsset
) -> np.ndarray:
    """Row 1: photo, predicted front/back normals; row 2: reconstruction from 4 sides;
    row 3: the truth from 4 sides. (3 * TILE + captions, 4 * TILE, 3) float in [0, 1]."""
    tiles = [_fit(photo)] + [_fit((n + 1.0) / 2.0) for n in normals]
    row1 = tiles + [np.ones((TILE, TILE, 3), np.float32)] * (4 - len(tiles))
    row2 = shaded_views(np.asarray(pred.vertices), np.asarray(pred.faces), TILE)
    row3 = shaded_views(truth.vertices, truth.faces, TILE)
    sheet = np.concatenate([np.concatenate(r, axis=1) for r in (row1, row2, row3)], axis=0)
    image = Image.fromarray((np.clip(sheet, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    captions = (
        "photo | predicted front normals | predicted back normals",
        "reconstruction: yaw 0, 90, 180, 270",
        "ground truth: yaw 0, 90, 180, 270",
    )
    for i, text in enumerate(captions):
        draw.text((6, i * TILE + 4), text, fill=(0, 0, 0))
    return np.asarray(image, dtype=np.float32) / 255.0


def _fit(image: np.ndarray) -> np.ndarray:
    pil = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
    return np.asarray(pil.resize((TILE, TILE), Image.Resampling.BOX), np.float32) / 255.0


def demo_report(result: DemoResult, checkpoint: str | Path) -> dict:
    """JSON-ready metrics (cm), baseline, timings and inputs."""
    return {
        "checkpoint": str(checkpoint),
        "units": "cm; the subject normalised to 180 cm height",
        "metrics": result.metrics.as_dict(),
        "baseline_inflated_silhouette": result.baseline.as_dict(),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _write_png(path: Path, image: np.ndarray) -> Path:
    with atomic_write(path) as tmp:
        Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(tmp, "PNG")
    return path


def _write_text(path: Path, text: str) -> Path:
    with atomic_write(path) as tmp:
        tmp.write_text(text + "\n")
    return path
