"""Per-view bodies of synthetic subjects in prepared data: the true body, the fit, migration.

Needs ``anny`` (a cold ANNY_CACHE_DIR costs about 80 s); the fit test also needs MediaPipe.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from pifuhd.body.anny import SHAPE_KEYS
from pifuhd.cli import main
from pifuhd.data import prepare as prep
from pifuhd.data import render
from pifuhd.data.asset import CUBE_HALF_CM, FINE_SIZE, pixel_centers, view_matrix
from pifuhd.data.bodies import anny_posed, apply, person_folder
from pifuhd.data.dataset import list_subjects
from pifuhd.data.prepare import prepare
from pifuhd.data.sample import depth_origin
from pifuhd.errors import InputError
from pifuhd.io.crops import CropRect, cube_to_pixel_matrix
from tests.test_prepare import TINY as PREPARE_TINY

pytest.importorskip("anny")

TINY = replace(PREPARE_TINY, bodies="true")
TINY_V2_DIGEST = "19e926f4c49cab1f"
"""``TINY.digest()`` as data format 2 wrote it (before ``bodies`` existed)."""
JOINT_TOL_CM = 1e-3
SKIN_TOL_CM = 1e-3
"""mesh.obj keeps 5 decimals (cm)."""
INSIDE_SHARE = 0.95
REBUILD_TOL_CM = 0.01
"""float32 parameters and matrices -> Anny -> cube, against the stored float32 mesh."""
FIT_JOINT_TOL_CM = 8.0
FIT_IMAGE_TOL_CM = 4.0
FIT_IMAGE_MAX_CM = 12.0
"""Measured: this person's front view at 512 px, mean joint error 5.7 cm (3D) and 1.9 cm in
the image plane, max 8.8 cm there (session 15's fitter; session 14's: 6.9, 2.8 and 10)."""
N_ANNY_VERTICES, N_ANNY_FACES, N_ANNY_BONES = 13718, 27420, 104


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory, anny_cache: None) -> Iterator[Path]:
    """One synthetic Anny person (a small texture atlas) and one plain mesh."""
    from pifuhd.synth.people import make_person, write_person

    folder = tmp_path_factory.mktemp("scans")
    write_person(make_person(0, atlas_size=256), folder / "person_00000")
    trimesh.creation.box(extents=[0.4, 1.7, 0.3]).export(folder / "box.ply")
    yield folder


def _subject_from_person(scans: Path) -> tuple[np.ndarray, np.ndarray]:
    """(4, 4) mesh.obj -> subject frame, recomputed from the OBJ (y up: centre the box, scale
    to 180 cm), and the person's joints (JOINT_NAMES order), cm in mesh.obj's frame."""
    from pifuhd.body.skinned import JOINT_NAMES

    person = scans / "person_00000"
    lines = [line for line in (person / "mesh.obj").read_text().splitlines() if line[:2] == "v "]
    raw = np.array([[float(x) for x in line.split()[1:]] for line in lines])
    factor = 180.0 / np.ptp(raw[:, 1])
    m = np.eye(4) * factor
    m[3, 3] = 1.0
    m[:3, 3] = -factor * (raw.max(0) + raw.min(0)) / 2.0
    avatar = np.load(person / "avatar.npz")
    names = list(avatar["joint_names"])
    return m, avatar["joints"][[names.index(n) for n in JOINT_NAMES]]


def test_rendered_view_spans_the_fitters_cube() -> None:
    """The crop = the whole S x S view puts the cube's pixel centres where the renderer has
    them, so the fitter's cube is the view's cube."""
    for size in (64, 512, 1024):
        m = cube_to_pixel_matrix(CropRect(0, 0, size, size), FINE_SIZE)
        centres = pixel_centers(size)
        np.testing.assert_allclose(m[0, 0] * centres + m[0, 3], np.arange(size) + 0.5, atol=1e-9)
        np.testing.assert_allclose(m[1, 1] * -centres + m[1, 3], np.arange(size) + 0.5, atol=1e-9)


@pytest.mark.parametrize("up", ["y", "z", "-x"])
def test_scan_normalisation_is_recorded(tmp_path: Path, up: str) -> None:
    """``ScanInfo.to_subject`` maps the file's vertices onto the normalised ones."""
    from pifuhd.data.scan import load_scan

    box = trimesh.creation.box(extents=[400.0, 1700.0, 300.0])  # mm, y up
    box.vertices += [10.0, 20.0, -30.0]
    turn = {
        "y": np.eye(3),
        "z": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
        "-x": [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
    }
    box.vertices = box.vertices @ np.asarray(turn[up], dtype=float).T
    box.export(tmp_path / "box.ply")
    asset, info = load_scan(tmp_path / "box.ply", up=up)
    assert info.up == up
    np.testing.assert_allclose(
        apply(np.asarray(info.to_subject), box.vertices), asset.vertices, atol=1e-9
    )


def test_person_folder_only_for_synthetic_people(scans: Path) -> None:
    assert person_folder(scans / "person_00000" / "mesh.obj") == scans / "person_00000"
    assert person_folder(scans / "person_00000" / "rest.obj") is None
    assert person_folder(scans / "box.ply") is None


def test_true_body_sits_in_the_clothes_in_every_view(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    status = {r.name: r.status for r in prepare(scans, out, TINY)}
    assert status == {"box": "done", "person_00000": "done"}
    assert not (out / "subjects" / "box" / "body").exists()
    subject = out / "subjects" / "person_00000"
    doc = json.loads((subject / "subject.json").read_text())
    assert doc["bodies"] == "true" and doc["scan"]["up"] == "y"
    to_subject, joints_cm = _subject_from_person(scans)
    np.testing.assert_allclose(doc["scan"]["to_subject"], to_subject, atol=1e-9)
    faces = np.load(subject / "body" / "faces.npy")
    assert faces.dtype == np.int32 and faces.shape == (N_ANNY_FACES, 3)
    clothed = trimesh.load(subject / "mesh.ply", process=False)
    origin = depth_origin(dict(np.load(subject / "samples.npz")))
    for view in json.loads((subject / "views.json").read_text())["views"]:
        calib = np.asarray(view["calib"])
        np.testing.assert_allclose(calib, view_matrix(view["yaw"], origin), atol=1e-12)
        arrays = np.load(subject / "body" / f"{view['index']:04d}.npz")
        assert sorted(arrays.files) == [
            "true_anny_to_cube",
            "true_joints",
            "true_pose_deltas",
            "true_shape",
            "true_vertices",
        ]
        assert all(arrays[k].dtype == np.float32 for k in arrays.files)
        assert arrays["true_vertices"].shape == (N_ANNY_VERTICES, 3)
        assert arrays["true_pose_deltas"].shape == (N_ANNY_BONES, 4, 4)
        assert arrays["true_shape"].shape == (6,) and arrays["true_joints"].shape == (17, 3)
        expected = apply(calib @ to_subject, joints_cm)
        error_cm = np.abs(arrays["true_joints"] - expected).max() * CUBE_HALF_CM
        assert error_cm < JOINT_TOL_CM
        # back in the subject frame: the visible skin is the clothed mesh's own skin, and the
        # rest lies under the clothes
        body = apply(np.linalg.inv(calib), arrays["true_vertices"])
        gap, _ = clothed.kdtree.query(body)
        assert (gap < SKIN_TOL_CM).mean() > 0.5
        winding = _winding(clothed, body)
        assert ((winding > 0.5) | (gap < 1.0)).mean() > INSIDE_SHARE
    # the stored parameters and placement rebuild the body (Anny's own forward pass)
    shape = dict(zip(SHAPE_KEYS, arrays["true_shape"].astype(float), strict=True))
    vertices, _ = anny_posed(shape, arrays["true_pose_deltas"])
    rebuilt = apply(arrays["true_anny_to_cube"].astype(np.float64), vertices)
    assert np.abs(rebuilt - arrays["true_vertices"]).max() * CUBE_HALF_CM < REBUILD_TOL_CM


def _winding(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    import igl

    return igl.fast_winding_number(
        np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64), points
    )


def test_no_bodies_and_bad_option(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    prepare(scans, out, replace(TINY, views=1, bodies="none"))
    assert not list(out.rglob("body"))
    assert json.loads((out / "subjects/person_00000/subject.json").read_text())["bodies"] == "none"
    with pytest.raises(InputError, match="--bodies 'maybe'"):
        replace(TINY, bodies="maybe").validate()
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        main(["prepare", str(scans), "--out", str(out), "--bodies", "maybe"])


def test_format_2_is_refused_then_upgraded_in_place(
    scans: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A format-2 folder: readers name the command; the command adds the body files only
    (nothing rendered again, a killed run resumes) and the folder reads again."""
    assert replace(TINY, bodies="fit").digest() == TINY_V2_DIGEST
    out = tmp_path / "data"
    prepare(scans, out, replace(TINY, bodies="none"))
    _make_format_2(out)
    with pytest.raises(InputError, match="data format 2") as info:
        list_subjects(out)
    command = str(info.value).split("`")[1]
    assert command == (
        f"pifuhd prepare {scans} --out {out} --views 4 --size 64 --surface-samples 3000 "
        "--uniform-samples 3000 --color-samples 500 --prt-dirs 8 --seed 3"
    )
    before = _stamps(out)
    real, calls = prep.write_view_bodies, {"n": 0}

    def dying(*args: object, **kwargs: object) -> bool:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    def no_renders(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished subject was rendered again")

    monkeypatch.setattr(render, "SubjectRenderer", no_renders)
    monkeypatch.setattr(prep, "write_view_bodies", dying)
    args = [*shlex.split(command)[1:], "--bodies", "true"]
    with pytest.raises(KeyboardInterrupt):
        main(args)
    monkeypatch.setattr(prep, "write_view_bodies", real)
    assert len(list(out.glob("subjects/person_00000/body/*.npz"))) == 2
    assert main(args) == 0
    assert _stamps(out) == before  # renders, samples, meshes untouched
    monkeypatch.undo()
    assert list_subjects(out) == ["box", "person_00000"]
    reference = tmp_path / "reference"
    prepare(scans, reference, TINY)
    for path in sorted((reference / "subjects/person_00000/body").iterdir()):
        upgraded = out / path.relative_to(reference)
        if path.suffix == ".npy":
            assert path.read_bytes() == upgraded.read_bytes()
            continue
        a, b = np.load(path), np.load(upgraded)
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    assert {r.status for r in prepare(scans, out, TINY)} == {"skipped"}


def _make_format_2(out: Path) -> None:
    """Rewrite a format-3 folder's JSON files as format 2 wrote them."""
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["settings"]["bodies"]
    (out / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}))
    for path in out.glob("subjects/*/subject.json"):
        doc = json.loads(path.read_text())
        del doc["bodies"], doc["scan"]["to_subject"], doc["timings"]["bodies_s"]
        path.write_text(json.dumps(doc))


def _stamps(out: Path) -> dict[str, int]:
    """mtime of every file but the JSON ones and the body files."""
    return {
        str(p): p.stat().st_mtime_ns
        for p in out.rglob("*")
        if p.is_file() and p.suffix != ".json" and "body" not in p.parts
    }


def test_fitted_body_is_near_the_true_one(scans: Path, tmp_path: Path) -> None:
    """The body fitted to the front view (MediaPipe + Anny fit) lies near the true one."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("pifuhd.body.photo")
    out = tmp_path / "data"
    prepare(
        scans / "person_00000" / "mesh.obj", out, replace(TINY, views=1, size=512, bodies="fit")
    )
    arrays = np.load(out / "subjects/mesh/body/0000.npz")
    assert bool(arrays["fit_found"])
    assert arrays["fit_vertices"].shape == (N_ANNY_VERTICES, 3)
    assert arrays["fit_pose_deltas"].shape == (N_ANNY_BONES, 4, 4)
    assert json.loads(str(arrays["fit_json"]))["joints_cube"]
    # the stored parameters and placement rebuild the fitted mesh
    shape = dict(zip(SHAPE_KEYS, arrays["fit_shape"].astype(float), strict=True))
    vertices, _ = anny_posed(shape, arrays["fit_pose_deltas"])
    rebuilt = apply(arrays["fit_anny_to_cube"].astype(np.float64), vertices)
    assert np.abs(rebuilt - arrays["fit_vertices"]).max() * CUBE_HALF_CM < REBUILD_TOL_CM
    error = (arrays["fit_joints"] - arrays["true_joints"]) * CUBE_HALF_CM
    in_3d, in_image = np.linalg.norm(error, axis=1), np.linalg.norm(error[:, :2], axis=1)
    assert in_3d.mean() < FIT_JOINT_TOL_CM, in_3d.round(1)
    assert in_image.mean() < FIT_IMAGE_TOL_CM, in_image.round(1)
    assert in_image.max() < FIT_IMAGE_MAX_CM, in_image.round(1)


def test_fit_without_mediapipe_names_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    photo = pytest.importorskip("pifuhd.body.photo")
    from pifuhd.body.detect import MediaPipeMissingError
    from pifuhd.data.bodies import fit_image

    def missing(*args: object, **kwargs: object) -> list:
        raise MediaPipeMissingError("no mediapipe")

    monkeypatch.setattr(photo, "fit_people", missing)
    with pytest.raises(InputError, match="no mediapipe; or pass --bodies true"):
        fit_image(np.zeros((8, 8, 3), np.float32))


def test_body_features_of_items_and_a_body_guided_training_run(
    scans: Path, tmp_path: Path, one_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Items carry the true body's features at their points (inside the body means inside
    the clothes), and ``mlp_only`` training of a widened model moves only the MLPs (and
    warns that the fine level, which reads the coarse MLP's features, is now stale)."""
    from safetensors.torch import load_file

    from pifuhd.checkpoint.native import read_inference_dict, read_native_config, save_native
    from pifuhd.checkpoint.widen import with_body_inputs
    from pifuhd.data.dataset import OccupancyDataset
    from pifuhd.models.pifuhd import PIFuHD
    from pifuhd.train.cli_args import main as train_main
    from pifuhd.train.config import TrainConfig
    from pifuhd.train.setup import run_carried_metadata
    from tests.conftest import tiny_config

    out = tmp_path / "data"
    prepare(scans, out, replace(TINY, views=2))
    with pytest.raises(InputError, match="--bodies true"):  # the box has no body
        OccupancyDataset(out, ["box"], bodies="true", image_size=64)[0]
    items = OccupancyDataset(out, ["person_00000"], bodies="true", image_size=64)
    assert len(items) == 2
    for i in range(len(items)):
        item = items[i]
        body, labels = item["body"].numpy(), item["labels"][0].numpy() > 0.5
        assert body.shape == (4, labels.size)
        in_body = body[0] < -0.05  # at least 7 cm inside the body
        assert in_body.sum() > 20 and labels[in_body].mean() > 0.97
        assert labels[body[0] > 0.9].mean() < 0.1  # 14 cm or more outside it
    dropped = OccupancyDataset(out, ["person_00000"], bodies="true", body_dropout=1.0)
    assert not dropped[0]["body"].any()

    torch.manual_seed(0)
    guards = {"body_depth": True, "carve": True, "fragment_share": 0.2}
    shifted = {"fine_logit_shift": -0.8}  # baked into the fine MLP: training keeps the record
    init = save_native(with_body_inputs(PIFuHD(tiny_config())), tmp_path / "init", shifted, guards)
    run = tmp_path / "run"
    sets = {
        "batch_size": 1, "num_points": 64, "workers": 0, "val_subjects": "box",
        "val_every": 0, "bodies": "true", "mlp_only": "true", "log_every": 1,
    }  # fmt: skip
    args = ["coarse", "--data", str(out), "--init", str(init), "--out", str(run)]
    args += ["--steps", "2", "--device", "cpu"]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert train_main(args) == 0
    assert "stale fine level" in capsys.readouterr().err
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    assert read_inference_dict(latest) == guards  # the init's pipeline settings carry over
    assert read_native_config(latest)[1]["fine_logit_shift"] == -0.8
    fine = TrainConfig(stage="fine", init=str(init))  # a fine run from it is told to unshift
    assert run_carried_metadata(fine, None) == shifted  # logged by the CLI's handler
    assert "shift_fine_logit.py INIT OUT +0.8" in capsys.readouterr().err
    before = load_file(str(init / "model.safetensors"))
    name = (run / "checkpoints" / "latest").read_text().strip()
    after = load_file(str(run / "checkpoints" / name / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("netG.mlp.") for k in changed)
    assert after["netG.mlp.filters.0.weight"][:, -4:].abs().sum() > 0  # the body is read


def test_fits_by_an_older_fitter_are_refitted_and_nothing_else(
    scans: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views fitted before ``FIT_VERSION`` (no ``fit_version`` stored) are fitted again by the
    same ``prepare`` command; renders and the true bodies' files are not rewritten."""
    from pifuhd.data import bodies

    calls = {"n": 0}

    def fake_fit(rgb: np.ndarray) -> list:
        calls["n"] += 1
        return []

    monkeypatch.setattr(bodies, "fit_image", fake_fit)
    out = tmp_path / "data"
    config = replace(TINY, bodies="fit")
    prepare(scans, out, config)
    assert calls["n"] == 4  # the person's 4 views; the box has no body
    subject = out / "subjects/person_00000"
    doc = json.loads((subject / "subject.json").read_text())
    assert doc["fit_version"] == bodies.FIT_VERSION
    # make the folder as the session-14 fitter left it
    del doc["fit_version"]
    (subject / "subject.json").write_text(json.dumps(doc))
    for path in (subject / "body").glob("*.npz"):
        arrays = dict(np.load(path))
        del arrays["fit_version"]
        np.savez(path, **arrays)
    before = _stamps(out)
    monkeypatch.setattr(render, "SubjectRenderer", None)  # nothing may be rendered
    statuses = {r.name: r.status for r in prepare(scans, out, config)}
    assert statuses == {"box": "skipped", "person_00000": "done"}
    assert calls["n"] == 8
    assert _stamps(out) == before
    for path in (subject / "body").glob("*.npz"):
        assert int(np.load(path)["fit_version"]) == bodies.FIT_VERSION
    assert json.loads((subject / "subject.json").read_text())["fit_version"] == 2
    assert {r.status for r in prepare(scans, out, config)} == {"skipped"}
    assert calls["n"] == 8
