"""``pifuhd evaluate``: metrics of reconstructed meshes against ground-truth meshes, in cm.

Meshes are paired by file stem (``PRED/alice.obj`` with ``GT/alice.ply``, or ``GT/alice/``
holding one mesh). Both must be in the same frame. Scale: the ground truth's height (extent
along y) is taken to be ``gt_height_cm`` (default 180 cm, the subject frame of ``pifuhd
prepare``); both meshes are scaled by ``gt_height_cm / height`` so distances read in cm. Pass
``gt_height_cm=None`` when the files are already in centimetres.

With ``texture``, both meshes' vertex colours (sRGB; a UV texture is sampled at the vertices)
also give PATD and PIPATD (``pifuhd.eval.color_metrics``, k nearest ground-truth vertices).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from pifuhd.errors import InputError
from pifuhd.eval.color_metrics import DEFAULT_K, color_metrics
from pifuhd.eval.metrics import GeometryMetrics, geometry_metrics
from pifuhd.io.atomic import atomic_write

log = logging.getLogger(__name__)

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".off", ".stl")


@dataclass(frozen=True)
class SubjectScore:
    name: str
    metrics: GeometryMetrics
    scale: float
    """Factor applied to both meshes (cm per file unit)."""
    color: dict[str, float] | None = None
    """PATD, PIPATD and k (``color_metrics``) when scored with texture, else None."""

    def values(self) -> dict[str, float]:
        """Every metric by column key (geometry, then colour when present)."""
        return {**self.metrics.as_dict(), **(self.color or {})}


def load_mesh_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, faces (F, 3) int64) of a mesh file; one-line errors."""
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as exc:  # trimesh raises many types for malformed files
        raise InputError(f"{path}: cannot read the mesh ({exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputError(f"{path}: no triangles; give a triangle mesh")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(vertices).all():
        raise InputError(f"{path}: non-finite vertices")
    return vertices, np.asarray(mesh.faces, dtype=np.int64)


def load_mesh_colors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, colours (V, 3) float64 sRGB in [0, 1]) of a mesh file with
    vertex colours, or with a UV texture (sampled at the vertices).

    Raises:
        InputError: unreadable, or no colours.
    """
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as exc:  # trimesh raises many types for malformed files
        raise InputError(f"{path}: cannot read the mesh ({exc})") from exc
    visual = getattr(mesh, "visual", None)
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        visual = visual.to_color()
        kind = visual.kind
    if kind != "vertex" or len(mesh.vertices) == 0:
        raise InputError(
            f"{path}: no vertex colours; --texture needs coloured meshes (reconstruct with "
            "`pifuhd reconstruct --texture`; prepared data keeps them in mesh.ply)"
        )
    colors = np.asarray(visual.vertex_colors)[:, :3].astype(np.float64) / 255.0
    return np.asarray(mesh.vertices, dtype=np.float64), colors


def color_scores(pred_path: Path, gt_path: Path, k: int = DEFAULT_K) -> dict[str, float]:
    """PATD and PIPATD (k nearest) of a predicted mesh's vertex colours against the ground
    truth's; both in the same frame (any scale)."""
    pred = load_mesh_colors(pred_path)
    gt = load_mesh_colors(gt_path)
    return color_metrics(pred[0], pred[1], gt[0], gt[1], k=k)


def pair_meshes(pred: Path, gt: Path) -> list[tuple[str, Path, Path]]:
    """(name, predicted mesh, ground-truth mesh) for every stem present in both folders.

    Raises:
        InputError: a folder is missing, or no names match.
    """
    preds = _meshes_by_name(pred)
    gts = _meshes_by_name(gt)
    names = sorted(set(preds) & set(gts))
    if not names:
        raise InputError(
            f"no mesh names in common between {pred} ({len(preds)} meshes) and {gt} "
            f"({len(gts)}); name each prediction like its ground truth"
        )
    for name in sorted(set(preds) - set(gts)):
        log.warning("%s: no ground truth named %s; skipped", preds[name], name)
    return [(n, preds[n], gts[n]) for n in names]


def _meshes_by_name(folder: Path) -> dict[str, Path]:
    folder = Path(folder)
    if folder.is_file():
        return {folder.stem: folder}
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; check the path")
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix.lower() in MESH_SUFFIXES:
            found.setdefault(entry.stem, entry)
        elif entry.is_dir():
            inner = sorted(p for p in entry.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
            named = [p for p in inner if p.stem in ("mesh", "scan", "model")]
            if named or inner:
                found.setdefault(entry.name, (named or inner)[0])
    return found


def evaluate_pair(
    pred_path: Path,
    gt_path: Path,
    *,
    gt_height_cm: float | None = 180.0,
    samples: int = 10_000,
    seed: int = 0,
) -> tuple[GeometryMetrics, float]:
    """Metrics of one predicted mesh against its ground truth, and the scale applied."""
    pred = load_mesh_arrays(pred_path)
    gt = load_mesh_arrays(gt_path)
    scale = 1.0
    if gt_height_cm is not None:
        height = float(np.ptp(gt[0][:, 1]))
        if height <= 0:
            raise InputError(f"{gt_path}: zero height along y; is y the up axis?")
        scale = gt_height_cm / height
    metrics = geometry_metrics(
        (pred[0] * scale, pred[1]), (gt[0] * scale, gt[1]), samples=samples, seed=seed
    )
    return metrics, scale


def evaluate_folders(
    pred: Path,
    gt: Path,
    *,
    gt_height_cm: float | None = 180.0,
    samples: int = 10_000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    texture: bool = False,
    k: int = DEFAULT_K,
) -> list[SubjectScore]:
    """Metrics for every matching pair of ``pred`` and ``gt`` (see the module docstring);
    with ``texture`` also PATD / PIPATD (k nearest ground-truth vertices)."""
    scores = []
    for name, p, g in pair_meshes(pred, gt):
        metrics, scale = evaluate_pair(p, g, gt_height_cm=gt_height_cm, samples=samples, seed=seed)
        color = color_scores(p, g, k) if texture else None
        scores.append(SubjectScore(name, metrics, scale, color))
        if progress:
            progress(name)
    return scores


METRIC_COLUMNS = (
    ("chamfer_cm", "Chamfer (cm) ↓"),
    ("p2s_cm", "P2S (cm) ↓"),
    ("fscore_1cm", "F@1cm ↑"),
    ("fscore_2cm", "F@2cm ↑"),
    ("iou", "IoU ↑"),
    ("normal_consistency", "Normal cons. ↑"),
    ("normal_angle_deg", "Normal angle (°) ↓"),
    ("silhouette_iou", "Silhouette IoU ↑"),
)


def score_columns(scores: list[SubjectScore]) -> tuple[tuple[str, str], ...]:
    """(key, label) of the columns: the geometry metrics, plus PATD and PIPATD when any score
    has colour metrics (PIPATD's label names its k)."""
    colored = [s.color for s in scores if s.color is not None]
    if not colored:
        return METRIC_COLUMNS
    k = int(colored[0]["k"])
    return (*METRIC_COLUMNS, ("patd", "PATD ↓"), ("pipatd", f"PIPATD (k={k}) ↓"))


def scores_csv(scores: list[SubjectScore]) -> str:
    """Per-subject CSV: name, every metric (empty where a score has none), scale."""
    columns = score_columns(scores)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subject", *(key for key, _ in columns), "scale"])
    for s in scores:
        values = s.values()
        cells = [f"{values[k]:.6g}" if k in values else "" for k, _ in columns]
        writer.writerow([s.name, *cells, f"{s.scale:.6g}"])
    return out.getvalue()


def mean_metrics(
    scores: list[SubjectScore], columns: tuple[tuple[str, str], ...] | None = None
) -> dict[str, float]:
    """Mean of every metric over the subjects that have it (NaN where none has)."""
    out = {}
    for key, _ in columns or score_columns(scores):
        values = [s.values()[key] for s in scores if key in s.values()]
        out[key] = float(np.mean(values)) if values else float("nan")
    return out


def summary_markdown(
    scores: list[SubjectScore],
    title: str = "mean",
    columns: tuple[tuple[str, str], ...] | None = None,
) -> str:
    """A markdown table: one row with the mean over subjects (n given); ``columns`` default
    to ``score_columns(scores)``, a missing metric shows as a dash."""
    columns = columns or score_columns(scores)
    means = mean_metrics(scores, columns)
    head = "| | n | " + " | ".join(label for _, label in columns) + " |"
    rule = "|---|---|" + "---|" * len(columns)
    cells = ["–" if np.isnan(means[k]) else f"{means[k]:.3f}" for k, _ in columns]
    row = f"| {title} | {len(scores)} | " + " | ".join(cells) + " |"
    return "\n".join([head, rule, row]) + "\n"


def write_reports(scores: list[SubjectScore], out: Path) -> tuple[Path, Path]:
    """``out/metrics.csv`` and ``out/summary.md``, written atomically."""
    out = Path(out)
    csv_path, md_path = out / "metrics.csv", out / "summary.md"
    with atomic_write(csv_path) as tmp:
        tmp.write_text(scores_csv(scores))
    with atomic_write(md_path) as tmp:
        tmp.write_text(summary_markdown(scores))
    return csv_path, md_path
