"""The evaluator on known cases: identical meshes, concentric spheres, a mesh and its mirror."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from pifuhd.data.asset import MeshAsset
from pifuhd.data.render import SubjectRenderer
from pifuhd.eval.metrics import fscore, geometry_metrics, normal_agreement, volume_iou

FACET_CM = 0.05
"""Tolerance for a faceted sphere of radius 30 cm (5 subdivisions: sagitta ~0.02 cm)."""


def sphere(radius: float) -> tuple[np.ndarray, np.ndarray]:
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=radius)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def lumpy() -> tuple[np.ndarray, np.ndarray]:
    """An asymmetric closed shape: a box with a sphere stuck on its +x side."""
    box = trimesh.creation.box(extents=(40.0, 120.0, 30.0))
    ball = trimesh.creation.icosphere(subdivisions=3, radius=15.0)
    ball.apply_translation([25.0, 30.0, 5.0])
    mesh = trimesh.util.concatenate([box, ball])
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_identical_meshes_score_perfectly() -> None:
    mesh = lumpy()
    m = geometry_metrics(mesh, mesh, samples=4000, iou_resolution=48, normal_size=96)
    assert m.chamfer_cm < 1e-9 and m.p2s_cm < 1e-9
    assert m.fscore_1cm == 1.0 and m.fscore_2cm == 1.0
    assert m.iou == 1.0 and m.silhouette_iou == 1.0
    assert m.normal_consistency == pytest.approx(1.0, abs=1e-6)


def test_sphere_against_a_sphere_one_cm_larger() -> None:
    inner, outer = sphere(30.0), sphere(31.0)
    m = geometry_metrics(inner, outer, samples=4000, iou_resolution=64, normal_size=128)
    assert m.chamfer_cm == pytest.approx(1.0, abs=FACET_CM)
    assert m.p2s_cm == pytest.approx(1.0, abs=FACET_CM)
    # every point is 1 cm away (minus the facets' sagitta): F-score flips at 1 cm
    assert m.fscore_2cm == 1.0
    wider = geometry_metrics(inner, sphere(31.5), samples=2000, iou_resolution=16, normal_size=16)
    assert wider.fscore_1cm == 0.0 and wider.fscore_2cm == 1.0
    assert m.iou == pytest.approx((30.0 / 31.0) ** 3, abs=0.02)
    # same normals where both are seen (concentric spheres)
    assert m.normal_consistency > 0.995


def test_fscore_formula() -> None:
    d_pred = np.array([0.5, 0.5, 3.0, 3.0])  # precision at 1 cm: 0.5
    d_gt = np.array([0.5, 3.0, 3.0, 3.0])  # recall at 1 cm: 0.25
    assert fscore(d_pred, d_gt, 1.0) == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert fscore(d_pred + 5, d_gt + 5, 1.0) == 0.0


def test_mirror_gives_the_expected_normal_error() -> None:
    vertices, faces = lumpy()
    mirrored = (vertices * [-1.0, 1.0, 1.0], faces[:, ::-1])
    size = 96
    cos, angle, sil = normal_agreement((vertices, faces), mirrored, size)
    # expected: the mirror's normal map at yaw y is the original's map at yaw -y, flipped
    # left-right with n_x negated; compare those with the original's maps directly.
    renderer = SubjectRenderer(MeshAsset(vertices=vertices, faces=faces), prt_dirs=1)
    dots, inter, union = [], 0, 0
    for yaw in (0.0, 90.0, 180.0, 270.0):
        a = renderer.render(yaw, size, np.zeros((9, 3)))
        b = renderer.render(-yaw, size, np.zeros((9, 3)))
        nb = b.normal_front[:, ::-1] * [-1.0, 1.0, 1.0]
        mb = b.mask[:, ::-1]
        both = a.mask & mb
        dots.append(np.sum(a.normal_front[both] * nb[both], axis=-1))
        inter += np.count_nonzero(both)
        union += np.count_nonzero(a.mask | mb)
    expected = np.clip(np.concatenate(dots), -1, 1)
    assert cos == pytest.approx(expected.mean(), abs=1e-3)
    assert angle == pytest.approx(np.degrees(np.arccos(expected)).mean(), abs=0.2)
    assert sil == pytest.approx(inter / union, abs=1e-3)
    assert cos < 0.95  # the lump is on the other side: a real error
    iou = volume_iou((vertices, faces), mirrored, 48)
    assert 0.5 < iou < 0.95


def test_evaluate_cli_pairs_scales_and_writes_reports(tmp_path: Path) -> None:
    from pifuhd.cli import main

    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    # ground truth 1.8 units tall (metres): evaluated as 180 cm
    gt = trimesh.creation.icosphere(subdivisions=4, radius=0.9)
    gt.export(tmp_path / "gt" / "ball.ply")
    pred = trimesh.creation.icosphere(subdivisions=4, radius=0.91)
    pred.export(tmp_path / "pred" / "ball.obj")
    pred.export(tmp_path / "pred" / "orphan.obj")
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            "--pred",
            str(tmp_path / "pred"),
            "--gt",
            str(tmp_path / "gt"),
            "-o",
            str(out),
            "--samples",
            "2000",
        ]
    )
    assert code == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("subject,chamfer_cm,p2s_cm") and len(rows) == 2
    chamfer = float(rows[1].split(",")[1])
    assert chamfer == pytest.approx(1.0, abs=FACET_CM * 2)  # 0.01 units * 100 cm/unit
    assert "| mean | 1 |" in (out / "summary.md").read_text()
    assert main(["evaluate", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path / "gt")]) == 1
