"""Textured output and colour evaluation: ``reconstruct --texture`` (vertex colours in OBJ, PLY
and GLB equal to the colour net's answer at the vertices), ``--uv`` (an xatlas atlas with the
colours baked in), the clear error without a colour net, and ``evaluate --texture``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from pifuhd.checkpoint.color import save_color
from pifuhd.checkpoint.native import save_native
from pifuhd.checkpoint.synthetic import give_surface, random_model
from pifuhd.cli import main
from pifuhd.eval import cli_args as eval_cli
from pifuhd.eval import evaluate, heldout
from pifuhd.eval.color_metrics import DEFAULT_K
from pifuhd.eval.metrics import GeometryMetrics
from pifuhd.inference import Reconstructor, srgb_to_uint8
from pifuhd.io.images import load_image
from pifuhd.io.people import find_people
from pifuhd.io.texture import bake_vertex_colors
from pifuhd.models.color import ColorConfig, ColorNet
from tests.conftest import PERSON, tiny_config
from tests.test_prepare import capsule_person

pytestmark = pytest.mark.usefixtures("one_thread")

RES = ["-r", "32", "--device", "cpu"]
ONE_LEVEL = 1
"""uint8 colours: a vertex read back from a file (8 decimals) may round to the next level."""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tiny geometry with a surface for PERSON plus a random colour net, the same geometry
    without a colour net)."""
    root = tmp_path_factory.mktemp("texture")
    net = random_model(tiny_config(), seed=0)
    image = load_image(PERSON)
    person = find_people(PERSON, image)[0]
    features = Reconstructor(net, device="cpu").encode(image, person.crop, person.mask)
    give_surface(net, features, grid=32)
    plain = save_native(net, root / "plain")
    textured = save_native(net, root / "textured")
    torch.manual_seed(1)
    config = ColorConfig.for_geometry(net.config, base_channels=4, num_blocks=1)
    save_color(ColorNet(config), textured)
    return textured, plain


@pytest.fixture
def fast_geometry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The geometry metrics (tested in test_metrics.py, seconds per pair) replaced by fixed
    numbers: these tests are about the colour columns."""

    def fixed(*args: object, **kwargs: object) -> GeometryMetrics:
        return GeometryMetrics(1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 20.0, 0.9)

    monkeypatch.setattr(evaluate, "geometry_metrics", fixed)
    monkeypatch.setattr(heldout, "geometry_metrics", fixed)


def direct_colors(checkpoint: Path, vertices: np.ndarray) -> np.ndarray:
    """(V, 3) uint8 colours of the checkpoint's colour net at cube ``vertices`` for PERSON."""
    rec = Reconstructor(checkpoint, device="cpu", texture=True)
    image = load_image(PERSON)
    person = find_people(PERSON, image)[0]
    with torch.inference_mode():
        coarse, fine = rec.network_images(image, person.crop, person.mask)
        features = rec.model.encode(coarse, fine)
        colors = rec.vertex_colors(features, rec.color.encode(coarse), vertices)
    return srgb_to_uint8(colors)


@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_reconstruct_texture_writes_the_nets_vertex_colours(
    tmp_path: Path, checkpoints: tuple[Path, Path], fmt: str
) -> None:
    textured, _ = checkpoints
    args = ["reconstruct", str(PERSON), "-c", str(textured), "-o", str(tmp_path)]
    assert main([*args, *RES, "--texture", "net", "--format", fmt]) == 0
    mesh = trimesh.load(tmp_path / f"person.{fmt}", force="mesh", process=False)
    assert mesh.visual.kind == "vertex" and len(mesh.vertices) > 0
    written = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(int)
    expected = direct_colors(textured, np.asarray(mesh.vertices)).astype(int)
    assert np.abs(written - expected).max() <= ONE_LEVEL
    assert np.ptp(written, axis=0).max() > 0  # not one flat colour


def test_photo_texture_needs_no_colour_net_and_blend_mixes_both(
    tmp_path: Path, checkpoints: tuple[Path, Path]
) -> None:
    from pifuhd.geometry.normal_refine import visible_from
    from pifuhd.surface_colors import (
        WELL_SEEN,
        blend_colors,
        blend_shares,
        light_harshness,
        net_relit,
        photo_weight,
        smooth_over,
    )

    textured, plain = checkpoints
    args = ["reconstruct", str(PERSON), "-o", str(tmp_path), *RES]
    assert main([*args, "-c", str(plain), "--texture", "photo"]) == 0
    photo = trimesh.load(tmp_path / "person.obj", process=False)
    rec = Reconstructor(plain, device="cpu", resolution=32, texture=True, texture_mode="photo")
    result = rec(PERSON)
    assert result.color_evidence.net is None
    seen = visible_from(result.mesh, 1.0)
    expected = srgb_to_uint8(
        np.clip(heldout_free_sample(result.color_evidence.image, result.mesh.vertices[seen]), 0, 1)
    ).astype(int)
    written = np.asarray(photo.visual.vertex_colors)[seen, :3].astype(int)
    assert np.abs(written - expected).max() <= ONE_LEVEL
    assert main([*args, "-c", str(textured), "--texture"]) == 0  # blend: the default mode
    blend = np.asarray(trimesh.load(tmp_path / "person.obj", process=False).visual.vertex_colors)
    net = direct_colors(textured, np.asarray(photo.vertices)).astype(int)
    both = blend[:, :3].astype(int)
    weight = photo_weight(result.mesh, seen)
    photo_all = np.asarray(photo.visual.vertex_colors)[:, :3] / 255.0
    well_seen = weight > WELL_SEEN
    normals = np.asarray(result.mesh.vertex_normals)
    harsh = light_harshness(photo_all, net / 255.0, normals, well_seen)
    relit = net_relit(photo_all, net / 255.0, normals, well_seen)
    mixed = (1 - harsh) * photo_all + harsh * relit
    smooth = smooth_over(result.mesh)  # the hidden side averaged
    expected = 255.0 * blend_colors(weight, mixed, net / 255.0, blend_shares(harsh), smooth)
    assert np.abs(both - expected).max() <= 2 * ONE_LEVEL
    assert well_seen[seen].any()


def heldout_free_sample(image: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    from pifuhd.surface_colors import sample_image

    return sample_image(image, np.asarray(vertices))


def test_reconstruct_texture_without_a_colour_net_is_one_clear_line(
    tmp_path: Path, checkpoints: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, plain = checkpoints
    args = ["reconstruct", str(PERSON), "-c", str(plain), "-o", str(tmp_path / "out")]
    assert main([*args, *RES, "--texture"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(plain) in err[0]
    assert "no colour network" in err[0] and "pifuhd train color" in err[0]
    assert not (tmp_path / "out").exists()


def test_info_shows_the_colour_net(
    checkpoints: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    textured, plain = checkpoints
    assert main(["info", str(textured), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["color"]["base_channels"] == 4 and doc["parameters"]["color_net (color/)"] > 0
    assert main(["info", str(plain), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["color"] is None


@pytest.mark.parametrize("mode", ["blend", "photo", "net"])
def test_reconstruct_uv_atlas(tmp_path: Path, checkpoints: tuple[Path, Path], mode: str) -> None:
    pytest.importorskip("xatlas")
    textured, plain = checkpoints
    checkpoint = plain if mode == "photo" else textured  # photo colours need no colour net
    args = ["reconstruct", str(PERSON), "-c", str(checkpoint), "-o", str(tmp_path)]
    # 512^2 texels: the photo's colours change sharply between neighbouring vertices, and a
    # coarser atlas blurs them (mean error 2.3 levels at 128^2, 2.9 at 256^2 for "photo")
    assert main([*args, *RES, "--uv", "512", "--texture", mode]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert {"person.obj", "person_uv.obj", "person_uv.mtl", "person_uv.png"} <= set(names)
    colored = trimesh.load(tmp_path / "person.obj", process=False)
    uv_mesh = trimesh.load(tmp_path / "person_uv.obj", process=False)
    assert uv_mesh.visual.kind == "texture" and len(uv_mesh.faces) == len(colored.faces)
    # The texture sampled at each UV vertex gives back that vertex's colour.
    sampled = uv_mesh.visual.to_color().vertex_colors[:, :3].astype(int)
    index = colored.kdtree.query(uv_mesh.vertices)[1]
    original = np.asarray(colored.visual.vertex_colors)[index, :3].astype(int)
    assert np.abs(sampled - original).mean() < 2.0


def test_bake_reproduces_a_linear_colour_field() -> None:
    # Two triangles covering the unit square; colour = (u, v, 1 - u) is linear, so the
    # barycentric bake equals it exactly at every texel centre.
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    colors = np.stack([uv[:, 0], uv[:, 1], 1 - uv[:, 0]], axis=1)
    image = bake_vertex_colors(uv, faces, colors, 8, 16)
    u = (np.arange(16) + 0.5) / 16
    v = 1 - (np.arange(8) + 0.5) / 8
    expected = np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1 - u[None, :]), axis=-1)
    np.testing.assert_allclose(image, expected, atol=1e-12)
    # One triangle only: the uncovered half takes the nearest covered texel's colour.
    half = bake_vertex_colors(uv, faces[:1], colors, 8, 8)
    assert np.isfinite(half).all() and half.min() >= 0.0 and half.max() <= 1.0


@pytest.mark.usefixtures("fast_geometry")
def test_evaluate_texture_of_a_mesh_against_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        capsule_person(1.7).export(tmp_path / folder / "anna.ply")
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]
    assert main([*args, "--samples", "300", "--texture", "-o", str(tmp_path / "out")]) == 0
    header, row = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert float(values["patd"]) == 0.0 and float(values["pipatd"]) == 0.0
    assert f"PIPATD (k={DEFAULT_K})" in (tmp_path / "out" / "summary.md").read_text()
    assert main([*args, "--samples", "300", "--texture", "--k", "2"]) == 0
    assert "PIPATD (k=2)" in capsys.readouterr().out
    # A mesh without colours: one clear line.
    plain = capsule_person(1.7)
    plain.visual = trimesh.visual.ColorVisuals(plain)
    plain.export(tmp_path / "gt" / "anna.ply")
    assert main([*args, "--samples", "300", "--texture"]) == 1
    assert "no vertex colours" in capsys.readouterr().err


def test_cli_default_k_is_the_metrics_default() -> None:
    assert eval_cli.DEFAULT_K == DEFAULT_K


@pytest.mark.usefixtures("fast_geometry")
def test_evaluate_held_out_with_texture(tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    from pifuhd.data.prepare import PrepareConfig, prepare

    textured, _ = checkpoints
    (tmp_path / "scans").mkdir()
    capsule_person(1.7).export(tmp_path / "scans" / "anna.ply")
    config = PrepareConfig(
        views=2, size=64, surface_samples=100, uniform_samples=100, color_samples=10,
        prt_dirs=4, presets=("wild",),
    )  # fmt: skip
    prepare(tmp_path / "scans", tmp_path / "data", config)
    out = tmp_path / "report"
    args = ["evaluate", "--data", str(tmp_path / "data"), "-c", str(textured), "--texture"]
    args += ["--subjects", "anna", "--yaws", "0", "--light", "wild", "--samples", "200"]
    assert main([*args, *RES, "-o", str(out)]) == 0
    header, row = (out / "metrics.csv").read_text().splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["subject"] == "anna@0" and 0.0 < float(values["pipatd"]) <= float(values["patd"])
    summary = (out / "summary.md").read_text().splitlines()
    assert "PATD ↓" in summary[0] and summary[-1].rstrip(" |").endswith("–")  # baseline: none
