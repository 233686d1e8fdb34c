"""Geometry metrics between a reconstructed and a ground-truth mesh, in centimetres.

Both meshes must be in the same frame and unit; ``pifuhd evaluate`` brings them into the
subject frame of ``pifuhd.data.asset`` (cm, the subject 180 cm tall) first.

- Chamfer and P2S follow PIFu's evaluator: point-to-surface distances from ``samples``
  area-uniform points of one mesh to the other mesh's surface (exact point-triangle distances,
  libigl); P2S = reconstruction -> truth; Chamfer = mean of both directions.
- F-score at ``tau`` (Tatarchenko et al. 2019): precision = share of reconstruction samples
  within ``tau`` of the truth, recall = share of truth samples within ``tau`` of the
  reconstruction, F = 2PR / (P + R).
- Volumetric IoU: inside/outside of both meshes (generalised winding number) on a regular grid
  over the union of their bounding boxes.
- Normal consistency: normal maps of both meshes rendered at yaws 0/90/180/270 (PIFuHD's
  protocol); mean cosine between the two unit normals over pixels covered by both; also the
  mean angle in degrees and the IoU of the two silhouettes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from pifuhd.data.asset import MeshAsset

if TYPE_CHECKING:
    from pifuhd.data.render import SubjectRenderer

NORMAL_YAWS = (0.0, 90.0, 180.0, 270.0)


@dataclass(frozen=True)
class GeometryMetrics:
    """Metrics of one reconstruction (distances in cm)."""

    chamfer_cm: float
    p2s_cm: float
    fscore_1cm: float
    fscore_2cm: float
    iou: float
    normal_consistency: float
    normal_angle_deg: float
    silhouette_iou: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def surface_samples(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """(n, 3) float64 area-uniform points on a triangle mesh."""
    from pifuhd.data.sample import sample_surface

    points, _, _ = sample_surface(vertices, faces, n, rng)
    return np.asarray(points, dtype=np.float64)


def point_to_surface(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N,) exact Euclidean distance from each point to the mesh surface (libigl AABB tree)."""
    import igl

    sq, _, _ = igl.point_mesh_squared_distance(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
    )
    return np.sqrt(np.maximum(sq, 0.0))


def fscore(d_pred_to_gt: np.ndarray, d_gt_to_pred: np.ndarray, tau: float) -> float:
    """F-score at threshold ``tau`` from the two directed distance samples."""
    precision = float(np.mean(d_pred_to_gt < tau))
    recall = float(np.mean(d_gt_to_pred < tau))
    if precision + recall == 0.0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def volume_iou(
    pred: tuple[np.ndarray, np.ndarray], gt: tuple[np.ndarray, np.ndarray], resolution: int = 96
) -> float:
    """IoU of the two solids on a ``resolution``^3 grid over the union of the bounding boxes."""
    from pifuhd.data.sample import inside_mesh

    lo = np.minimum(pred[0].min(axis=0), gt[0].min(axis=0))
    hi = np.maximum(pred[0].max(axis=0), gt[0].max(axis=0))
    axes = [lo[i] + (np.arange(resolution) + 0.5) * (hi[i] - lo[i]) / resolution for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    a = inside_mesh(pred[0], pred[1], grid)
    b = inside_mesh(gt[0], gt[1], grid)
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def normal_agreement(
    pred: tuple[np.ndarray, np.ndarray],
    gt: tuple[np.ndarray, np.ndarray],
    size: int = 256,
    yaws: tuple[float, ...] = NORMAL_YAWS,
) -> tuple[float, float, float]:
    """(mean cosine, mean angle in degrees, silhouette IoU) of front normal maps over ``yaws``.

    Both meshes are rendered in the subject frame with the cube of ``pifuhd.data.asset``.
    """
    r_pred, r_gt = _normal_renderer(pred), _normal_renderer(gt)
    no_light = np.zeros((9, 3))
    cos_all: list[np.ndarray] = []
    inter = union = 0
    for yaw in yaws:
        a = r_pred.render(yaw, size, no_light)
        b = r_gt.render(yaw, size, no_light)
        both = a.mask & b.mask
        dots = np.sum(a.normal_front[both] * b.normal_front[both], axis=-1)
        cos_all.append(np.clip(dots, -1.0, 1.0))
        inter += int(np.count_nonzero(both))
        union += int(np.count_nonzero(a.mask | b.mask))
    cos = np.concatenate(cos_all)
    if cos.size == 0:
        return 0.0, 180.0, 0.0
    return (
        float(cos.mean()),
        float(np.degrees(np.arccos(cos)).mean()),
        inter / union if union else 1.0,
    )


def _normal_renderer(mesh: tuple[np.ndarray, np.ndarray]) -> SubjectRenderer:
    """A renderer for normal maps only (one PRT direction: shading is not used)."""
    from pifuhd.data.render import SubjectRenderer

    return SubjectRenderer(MeshAsset(vertices=mesh[0], faces=mesh[1]), prt_dirs=1)


def geometry_metrics(
    pred: tuple[np.ndarray, np.ndarray],
    gt: tuple[np.ndarray, np.ndarray],
    *,
    samples: int = 10_000,
    iou_resolution: int = 96,
    normal_size: int = 256,
    seed: int = 0,
) -> GeometryMetrics:
    """All metrics between ``pred`` and ``gt`` meshes, each ``(vertices (V, 3), faces (F, 3))``
    in cm in the same frame."""
    rng = np.random.default_rng(seed)
    p = surface_samples(*pred, samples, rng)
    g = surface_samples(*gt, samples, rng)
    d_pg = point_to_surface(p, *gt)
    d_gp = point_to_surface(g, *pred)
    cos, angle, sil = normal_agreement(pred, gt, normal_size)
    return GeometryMetrics(
        chamfer_cm=float((d_pg.mean() + d_gp.mean()) / 2.0),
        p2s_cm=float(d_pg.mean()),
        fscore_1cm=fscore(d_pg, d_gp, 1.0),
        fscore_2cm=fscore(d_pg, d_gp, 2.0),
        iou=volume_iou(pred, gt, iou_resolution),
        normal_consistency=cos,
        normal_angle_deg=angle,
        silhouette_iou=sil,
    )
