"""The ``pifuhd`` command end to end, including every bad input of the issue's list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from pifuhd.checkpoint import save_native
from pifuhd.checkpoint.synthetic import give_surface, random_model
from pifuhd.cli import main
from pifuhd.inference import Reconstructor
from pifuhd.io.crops import resolve_crop
from pifuhd.io.images import load_image
from tests.conftest import PERSON, PERSON_CROP_METHOD, tiny_config

RES = ["-r", "32", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = random_model(tiny_config(), seed=0)
    image = load_image(PERSON)
    crop, _ = resolve_crop(PERSON, image)
    give_surface(net, Reconstructor(net, device="cpu").encode(image, crop))
    return save_native(net, tmp_path_factory.mktemp("ckpt") / "tiny")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("hide_mediapipe", [False, True])
def test_reconstruct_writes_all_outputs(
    tmp_path: Path, checkpoint: Path, hide_mediapipe: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All outputs; the crop comes from MediaPipe where it is installed, and from the
    background estimate where it is not (hidden: importing it raises ImportError)."""
    if hide_mediapipe:
        monkeypatch.setitem(sys.modules, "mediapipe", None)
    out = tmp_path / "out"
    assert main(["reconstruct", str(PERSON), "-c", str(checkpoint), "-o", str(out), *RES]) == 0
    assert _files(out) == [
        "person.json",
        "person.obj",
        "person_normal_back.png",
        "person_normal_front.png",
    ]
    mesh = trimesh.load(out / "person.obj", process=False)
    assert mesh.is_watertight and mesh.volume > 0
    info = json.loads((out / "person.json").read_text())
    assert info["resolution"] == 32
    assert info["crop_method"] == ("foreground" if hide_mediapipe else PERSON_CROP_METHOD)
    assert info["checkpoint"] == str(checkpoint) and info["vertices"] == len(mesh.vertices)
    assert set(info["crop"]) == {"x", "y", "w", "h"}


@pytest.mark.parametrize("fmt", ["ply", "glb"])
def test_reconstruct_formats(tmp_path: Path, checkpoint: Path, fmt: str) -> None:
    args = ["reconstruct", str(PERSON), "-c", str(checkpoint), "-o", str(tmp_path), "--format", fmt]
    assert main([*args, *RES, "--frame", "pixel"]) == 0
    mesh = trimesh.load(tmp_path / f"person.{fmt}", force="mesh", process=False)
    assert len(mesh.faces) > 0
    assert mesh.bounds[1][1] > 2.0  # pixel units, not the unit cube


def test_folder_runs_every_image_and_reports_failures(tmp_path: Path, checkpoint: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(PERSON.read_bytes())
    (folder / "c.jpg").write_bytes(b"this is not an image")
    (folder / "a_rect.txt").write_text("0 0 384 512\n")  # side file, not an input
    out = tmp_path / "out"
    assert main(["reconstruct", str(folder), "-c", str(checkpoint), "-o", str(out), *RES]) == 1
    files = _files(out)
    assert "a.obj" in files and "b.obj" in files
    assert not any(f.startswith("c") or f.startswith(".tmp") for f in files)
    assert json.loads((out / "a.json").read_text())["crop_method"] == "rect-file"


def _bad_inputs(tmp: Path, checkpoint: Path) -> dict[str, tuple[list[str], str]]:
    good = ["-c", str(checkpoint)]
    (tmp / "text.png").write_text("hello")
    data = PERSON.read_bytes()
    from PIL import Image

    Image.open(PERSON).convert("RGB").save(tmp / "photo.jpg", quality=90)
    jpeg = (tmp / "photo.jpg").read_bytes()
    (tmp / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp / "empty").mkdir()
    (tmp / "corrupt.pt").write_bytes(data[:1000])
    torch.save({"netG": {"w": torch.zeros(3)}}, tmp / "pifu_net_G.pt")
    (tmp / "nobody.json").write_text(json.dumps({"version": 1.3, "people": []}))
    return {
        "missing file": ([str(tmp / "missing.png"), *good], "missing.png"),
        "not an image": ([str(tmp / "text.png"), *good], "text.png"),
        "truncated jpeg": ([str(tmp / "truncated.jpg"), *good], "truncated.jpg"),
        "empty folder": ([str(tmp / "empty"), *good], "no images"),
        "corrupt checkpoint": ([str(PERSON), "-c", str(tmp / "corrupt.pt")], "corrupt.pt"),
        "other model": ([str(PERSON), "-c", str(tmp / "pifu_net_G.pt")], "not an official"),
        "no person": ([str(PERSON), *good, "--keypoints", str(tmp / "nobody.json")], "no person"),
    }


def test_bad_inputs_fail_cleanly(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for label, (args, needle) in _bad_inputs(tmp_path, checkpoint).items():
        out = tmp_path / f"out-{label.replace(' ', '-')}"
        code = main(["reconstruct", *args, "-o", str(out), *RES])
        err = capsys.readouterr().err
        assert code == 1, label
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert lines and needle in lines[0], (label, err)
        assert not [f for f in _files(out) if not f.startswith(".")] and not any(
            f.startswith(".tmp") for f in _files(out)
        ), label


def test_info_and_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "small"), "--preset", "small", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "small"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"]["TOTAL"] == 4_754_681
    assert doc["metadata"] == {"preset": "small", "seed": 1, "source": "random"}
    assert main(["info", str(tmp_path / "small")]) == 0
    text = capsys.readouterr().out
    assert "front_normal (netG.netF)" in text and "4,754,681" in text


def test_no_checkpoint_and_no_default_model_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pifuhd.weights

    monkeypatch.setattr(pifuhd.weights, "DEFAULT_MODEL_DIR", tmp_path / "none")
    assert main(["reconstruct", str(PERSON), "-o", str(tmp_path / "out")]) == 1
    assert "--checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_default_model_is_used_without_checkpoint(
    tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pifuhd.weights

    monkeypatch.setattr(pifuhd.weights, "DEFAULT_MODEL_DIR", checkpoint)
    out = tmp_path / "out"
    assert main(["reconstruct", str(PERSON), "-o", str(out), *RES]) == 0
    info = json.loads((out / "person.json").read_text())
    assert info["checkpoint"] == str(checkpoint)


def test_demo_end_to_end_with_a_stand_in_person(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's chain on a capsule 'person' and the tiny random model: files and metrics
    (the random model is poor; the baseline must be the better one there)."""
    import trimesh

    from pifuhd.data.asset import MeshAsset
    from pifuhd.demo import run_demo

    def capsule(seed: int) -> MeshAsset:
        body = trimesh.creation.capsule(height=140.0, radius=20.0, count=[12, 12])
        body.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
        return MeshAsset(np.asarray(body.vertices), np.asarray(body.faces), name="capsule")

    result = run_demo(
        tmp_path / "demo", checkpoint=checkpoint, resolution=32, device="cpu", person=capsule
    )
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == [
        "baseline.obj",
        "demo.png",
        "metrics.json",
        "photo.png",
        "reconstruction.obj",
        "truth.obj",
    ]
    report = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert report["metrics"]["chamfer_cm"] == pytest.approx(result.metrics.chamfer_cm)
    # the inflated silhouette of a capsule is close to it (diamond vs round cross-section)
    assert result.baseline.chamfer_cm < 3.0 and result.baseline.iou > 0.6
    assert result.metrics.chamfer_cm > 0.0


def test_keypoints_modes(tmp_path: Path, checkpoint: Path) -> None:
    """Both of the original release's keypoint rules reach the crop (values in test_crops)."""
    people = [0.0] * 75
    for index, (x, y) in {1: (192, 100), 8: (192, 240), 11: (170, 460)}.items():
        people[3 * index : 3 * index + 3] = [x, y, 0.9]
    (tmp_path / "kp.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": people}]}))
    crops = {}
    for mode in ("fullbody", "upperbody"):
        out = tmp_path / mode
        args = ["reconstruct", str(PERSON), "-c", str(checkpoint), "-o", str(out), *RES]
        kp = ["--keypoints", str(tmp_path / "kp.json"), "--keypoints-mode", mode]
        assert main([*args, *kp]) == 0
        info = json.loads((out / "person.json").read_text())
        assert info["crop_method"] == f"keypoints-{mode}"
        crops[mode] = info["crop"]
    # upper body: centre = neck, r = int(0.8 * |midhip - neck|) = 112
    assert crops["upperbody"] == {"x": 80, "y": -12, "w": 224, "h": 224}
    # full body (an ankle is confident): box of keypoints, r = int(0.65 * 360) = 234
    assert crops["fullbody"] == {"x": -53, "y": 46, "w": 468, "h": 468}


def test_evaluate_held_out_views_of_prepared_data(tmp_path: Path, checkpoint: Path) -> None:
    from pifuhd.data.prepare import PrepareConfig, prepare
    from tests.test_prepare import capsule_person

    (tmp_path / "scans").mkdir()
    capsule_person(1.7).export(tmp_path / "scans" / "anna.ply")
    config = PrepareConfig(
        views=4, size=128, surface_samples=100, uniform_samples=100, color_samples=10, prt_dirs=4
    )
    prepare(tmp_path / "scans", tmp_path / "data", config)
    out = tmp_path / "report"
    args = [
        "evaluate",
        "--data",
        str(tmp_path / "data"),
        "-c",
        str(checkpoint),
        "--subjects",
        "anna",
        "--yaws",
        "0,90",
        "-r",
        "32",
        "--samples",
        "500",
        "-o",
        str(out),
        "--device",
        "cpu",
        "--meshes",
    ]
    assert main(args) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["anna@0", "anna@90"]
    # --meshes: the scored reconstructions, in the truth's frame (they score the same again)
    from pifuhd.eval.evaluate import load_mesh_arrays
    from pifuhd.eval.metrics import geometry_metrics

    truth = load_mesh_arrays(tmp_path / "data" / "subjects" / "anna" / "mesh.ply")
    saved = load_mesh_arrays(out / "meshes" / "anna@90.ply")
    again = geometry_metrics(saved, truth, samples=500)
    assert again.chamfer_cm == pytest.approx(float(rows[2].split(",")[1]), rel=1e-4)
    base = (out / "baseline" / "metrics.csv").read_text().splitlines()
    # the inflated capsule silhouette is within a few cm of the capsule, from either side
    assert all(float(r.split(",")[1]) < 4.0 for r in base[1:])
    summary = (out / "summary.md").read_text()
    assert "inflated silhouette" in summary and "| model (" in summary


def test_evaluate_scores_the_fitted_body_alone(
    tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --body-depth the body the pipeline fitted is scored as its own row (the fit itself
    replaced here by a fixed box: this checks the row, not the fitter)."""
    from pifuhd import inference
    from pifuhd.data.prepare import PrepareConfig, prepare
    from pifuhd.guards import Bounds
    from tests.test_prepare import capsule_person

    (tmp_path / "scans").mkdir()
    capsule_person(1.7).export(tmp_path / "scans" / "anna.ply")
    config = PrepareConfig(
        views=4, size=128, surface_samples=100, uniform_samples=100, color_samples=10, prt_dirs=4
    )
    prepare(tmp_path / "scans", tmp_path / "data", config)
    box = trimesh.creation.box(extents=(0.3, 1.6, 0.2))
    fixed = Bounds(None, np.asarray(box.vertices), np.asarray(box.faces))
    monkeypatch.setattr(inference, "person_bounds", lambda *args, **kwargs: fixed)
    out = tmp_path / "report"
    args = ["evaluate", "--data", str(tmp_path / "data"), "-c", str(checkpoint), "--subjects"]
    args += ["anna", "--yaws", "0", "-r", "32", "--samples", "500", "-o", str(out)]
    assert main([*args, "--device", "cpu", "--body-depth"]) == 0
    rows = (out / "body" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["anna@0"]
    assert 0.0 < float(rows[1].split(",")[1]) < 30.0  # a box roughly where the capsule stands
    assert "fitted body alone" in (out / "summary.md").read_text()


def test_evaluate_with_the_true_body_reads_it_instead_of_fitting(
    tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--body true: the pipeline bounds depth by the view's stored true body (here a box
    written as the body file, centred in depth as training centres it) and never fits one;
    the body row is that box, labelled as the true body."""
    from pifuhd import guards
    from pifuhd.data.prepare import PrepareConfig, prepare
    from pifuhd.eval.evaluate import load_mesh_arrays
    from pifuhd.eval.heldout import to_subject_frame, view_records
    from pifuhd.eval.metrics import geometry_metrics
    from tests.test_prepare import capsule_person

    (tmp_path / "scans").mkdir()
    capsule_person(1.7).export(tmp_path / "scans" / "anna.ply")
    config = PrepareConfig(
        views=4, size=128, surface_samples=100, uniform_samples=100, color_samples=10, prt_dirs=4
    )
    prepare(tmp_path / "scans", tmp_path / "data", config)
    folder = tmp_path / "data" / "subjects" / "anna"
    box = trimesh.creation.box(extents=(0.3, 1.6, 0.2))
    (folder / "body").mkdir(exist_ok=True)
    np.save(folder / "body" / "faces.npy", np.asarray(box.faces, dtype=np.int32))
    # 0.25 deeper: the data's centring in depth takes this back out
    shifted = np.asarray(box.vertices) + np.array([0.0, 0.0, 0.25])
    np.savez(folder / "body" / "0000.npz", true_vertices=shifted)

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the body was fitted although it was given")

    monkeypatch.setattr(guards, "fit_for_guards", no_fit)
    out = tmp_path / "report"
    args = ["evaluate", "--data", str(tmp_path / "data"), "-c", str(checkpoint), "--subjects"]
    args += ["anna", "--yaws", "0", "-r", "32", "--samples", "500", "-o", str(out)]
    assert main([*args, "--device", "cpu", "--body-depth", "--body", "true"]) == 0
    rows = (out / "body" / "metrics.csv").read_text().splitlines()
    given = float(rows[1].split(",")[1])
    assert 0.0 < given < 30.0
    assert "true body alone" in (out / "summary.md").read_text()
    # the same box left 0.25 deeper (not recentred) scores worse: the centring was applied
    calib = view_records(folder, (0.0,))[0]["calib"]
    truth = load_mesh_arrays(folder / "mesh.ply")
    far = geometry_metrics((to_subject_frame(shifted, calib), box.faces), truth, samples=500)
    assert far.chamfer_cm > given + 2.0


def test_python_m_pifuhd_exits_with_main_s_code(tmp_path: Path) -> None:
    """The console entry (``cli.run``, behind ``python -m pifuhd`` and the ``pifuhd`` script)
    passes main's exit code on and its output through, success and failure alike."""
    assert main(["init", str(tmp_path / "small"), "--preset", "small", "--seed", "1"]) == 0
    ok = subprocess.run(
        [sys.executable, "-m", "pifuhd", "info", str(tmp_path / "small"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["parameters"]["TOTAL"] == 4_754_681
    bad = subprocess.run(
        [sys.executable, "-m", "pifuhd", "info", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "missing" in bad.stderr
