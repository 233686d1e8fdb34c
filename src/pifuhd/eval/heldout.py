"""Reconstruct held-out views of prepared data and score them against the truth.

For each (subject, yaw) of a ``pifuhd prepare`` folder: the colour render composited over a
grey gradient is reconstructed with the whole image as the crop (so the reconstruction's cube
is the view's cube), mapped back to the subject frame with the inverse of the view's
``calib``, and compared with the subject's ``mesh.ply`` (cm). The silhouette-inflation
baseline gets the same treatment from the view's mask. With ``texture`` the checkpoint's colour
net colours the vertices, scored by PATD / PIPATD against ``mesh.ply``'s vertex albedo; the
photo can be any of the data's colour renders (``light``: rgb, or a preset such as wild).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pifuhd.errors import InputError
from pifuhd.eval.color_metrics import DEFAULT_K, color_metrics
from pifuhd.eval.evaluate import SubjectScore, load_mesh_arrays, load_mesh_colors
from pifuhd.eval.metrics import geometry_metrics
from pifuhd.inference_settings import InferenceSettings

log = logging.getLogger(__name__)

EVAL_YAWS = (0.0, 90.0, 180.0, 270.0)


@dataclass(frozen=True)
class HeldOutScores:
    """Per view: the model's scores, the inflated silhouette's, and the fitted body's (empty
    when the pipeline fitted no body: ``body_depth`` off)."""

    model: list[SubjectScore]
    baseline: list[SubjectScore]
    body: list[SubjectScore] = field(default_factory=list)
    body_label: str = "fitted body alone"


def view_records(folder: Path, yaws: tuple[float, ...]) -> list[dict]:
    """The views of a prepared subject closest to each yaw (degrees)."""
    views = json.loads((folder / "views.json").read_text())["views"]
    chosen = []
    for yaw in yaws:
        best = min(views, key=lambda v: abs((v["yaw"] - yaw + 180.0) % 360.0 - 180.0))
        if abs((best["yaw"] - yaw + 180.0) % 360.0 - 180.0) > 1e-6:
            log.warning("%s: no view at yaw %g, using %g", folder.name, yaw, best["yaw"])
        chosen.append(best)
    return chosen


def to_subject_frame(vertices: np.ndarray, calib: np.ndarray) -> np.ndarray:
    """(V, 3) cube coordinates of a view -> subject frame (cm), inverting the (4, 4) calib."""
    inverse = np.linalg.inv(np.asarray(calib, dtype=np.float64))
    return vertices @ inverse[:3, :3].T + inverse[:3, 3]


def evaluate_heldout(
    data: Path,
    checkpoint: str | Path,
    subjects: list[str],
    *,
    yaws: tuple[float, ...] = EVAL_YAWS,
    resolution: int = 256,
    device: str = "auto",
    samples: int = 10_000,
    progress: Callable[[str], None] | None = None,
    texture: bool = False,
    k: int = DEFAULT_K,
    light: str = "rgb",
    settings: InferenceSettings | None = None,
    body_source: str = "fit",
    meshes: Path | None = None,
) -> HeldOutScores:
    """Scores (model and baseline) for every (subject, yaw); names are ``subject@yaw``.

    settings: the pipeline's guards (default: what the checkpoint records); with
    ``body_depth`` the body fitted to each photo is also scored on its own. body_source:
    'fit' (the pipeline fits the body to each photo, as for a user) or 'true' (an oracle: the
    model reads the view's true body from the data, centred in depth as in training with
    ``bodies=true``; it shows how much of the error is the fit's). meshes: also write each
    view's reconstruction there as ``subject@yaw.ply`` (subject frame, cm, like ``mesh.ply``).

    texture: also PATD / PIPATD (k nearest) of the model's vertex colours (the checkpoint
    needs a colour net). light: the render folder used as the photo, ``rgb`` or
    ``rgb_<preset>`` (a bare preset name is accepted).
    """
    from pifuhd.data.bodies import view_body_mesh
    from pifuhd.demo import composite
    from pifuhd.eval.baseline import inflate_silhouette
    from pifuhd.inference import Reconstructor

    if body_source not in ("fit", "true"):
        raise InputError(f"body source {body_source!r}: use 'fit' or 'true'")
    folder_name = light if light.startswith("rgb") else f"rgb_{light}"
    reconstructor = Reconstructor(
        checkpoint, device=device, resolution=resolution, texture=texture, settings=settings
    )
    model_scores, baseline_scores, body_scores = [], [], []
    for name in subjects:
        folder = Path(data) / "subjects" / name
        truth_path = folder / "mesh.ply"
        if not truth_path.is_file():
            raise InputError(f"{truth_path}: missing; re-run `pifuhd prepare` for this subject")
        truth = load_mesh_arrays(truth_path)
        truth_colors = load_mesh_colors(truth_path) if texture else None
        for view in view_records(folder, yaws):
            label = f"{name}@{view['yaw']:g}"
            photo_path = folder / folder_name / view["file"]
            if not photo_path.is_file():
                raise InputError(f"{photo_path}: missing; prepare with --presets or pick --light")
            rgb = _png(photo_path)
            mask = _png(folder / "mask" / view["file"])[..., 0] > 0.5
            photo = composite(rgb, mask)
            size = photo.shape[0]
            body = None
            if body_source == "true":
                body = view_body_mesh(folder, int(view["index"]), "true")
            recon = reconstructor(photo, rect=f"0 0 {size} {size}", body=body)
            pred = to_subject_frame(np.asarray(recon.mesh.vertices), view["calib"])
            metrics = geometry_metrics((pred, np.asarray(recon.mesh.faces)), truth, samples=samples)
            if meshes is not None:
                save_view_mesh(Path(meshes) / f"{label}.ply", pred, np.asarray(recon.mesh.faces))
            color = None
            if truth_colors is not None:
                colors = np.asarray(recon.mesh.visual.vertex_colors)[:, :3] / 255.0
                color = color_metrics(pred, colors, *truth_colors, k=k)
            model_scores.append(SubjectScore(label, metrics, 1.0, color))
            if recon.body is not None:
                body_v = to_subject_frame(recon.body[0], view["calib"])
                body_m = geometry_metrics((body_v, recon.body[1]), truth, samples=samples)
                body_scores.append(SubjectScore(label, body_m, 1.0))
            base = inflate_silhouette(mask, resolution)
            base_v = to_subject_frame(np.asarray(base.vertices), view["calib"])
            base_m = geometry_metrics((base_v, np.asarray(base.faces)), truth, samples=samples)
            baseline_scores.append(SubjectScore(label, base_m, 1.0))
            if progress:
                progress(label)
    label = "true body alone" if body_source == "true" else "fitted body alone"
    return HeldOutScores(model_scores, baseline_scores, body_scores, label)


def save_view_mesh(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a (V, 3) / (F, 3) mesh as PLY at ``path`` atomically (folder created)."""
    import trimesh

    from pifuhd.io.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        trimesh.Trimesh(vertices, faces, process=False).export(tmp, file_type="ply")


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def heldout_subjects(
    data: Path,
    names: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_subjects: int = 0,
) -> list[str]:
    """Subjects to score: ``names`` (comma-separated) or the validation side of the split that
    training uses (``split_subjects(..., val_fraction, seed)``), the first ``max_subjects``.

    Raises:
        InputError: no subject is left.
    """
    from pifuhd.data.dataset import list_subjects, split_subjects

    if names:
        subjects = [s.strip() for s in names.split(",") if s.strip()]
    else:
        _, subjects = split_subjects(list_subjects(data), val_fraction, seed)
    if max_subjects > 0:
        subjects = subjects[:max_subjects]
    if not subjects:
        raise InputError(f"{data}: no held-out subjects; pass --subjects")
    return subjects


def write_heldout_reports(scores: HeldOutScores, label: str, out: Path | None) -> str:
    """The markdown summary (model row, baseline row); with ``out``, also writes
    ``out/metrics.csv``, ``out/baseline/metrics.csv`` and ``out/summary.md`` atomically."""
    from pifuhd.eval.evaluate import score_columns, summary_markdown, write_reports
    from pifuhd.io.atomic import atomic_write

    columns = score_columns(scores.model)
    text = summary_markdown(scores.model, f"model ({label})", columns)
    text += summary_markdown(scores.baseline, "inflated silhouette", columns).split("\n", 2)[2]
    if scores.body:
        text += summary_markdown(scores.body, scores.body_label, columns).split("\n", 2)[2]
    if out is not None:
        write_reports(scores.model, out)
        write_reports(scores.baseline, Path(out) / "baseline")
        if scores.body:
            write_reports(scores.body, Path(out) / "body")
        with atomic_write(Path(out) / "summary.md") as tmp:
            tmp.write_text(text)
    return text
