"""Training: every stage on a tiny prepared dataset, checkpoints, bit-for-bit resume, and two
processes on gloo (configuration and the training API: ``test_train_config``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.native import save_native
from pifuhd.data.asset import pixel_centers
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.dataset import OccupancyDataset, PointConfig
from pifuhd.data.prepare import PrepareConfig, prepare
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.train import TrainConfig
from pifuhd.train import loop as train_loop
from pifuhd.train.cli_args import main
from pifuhd.train.distributed import weights_digest
from pifuhd.train.levels import fine_losses
from pifuhd.train.state import load_trainer_state, resolve_weights
from pifuhd.train.vgg import vgg19_layers
from tests.conftest import tiny_config
from tests.test_prepare import capsule_person

SUBJECTS = ("ada", "bob", "cy")
VAL = "cy"
"""Held out: 2 training subjects x 4 views = 8 items, 4 steps per epoch at batch 2."""


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder of 3 capsule subjects x 4 views at 64 px, a tiny native checkpoint)."""
    root = tmp_path_factory.mktemp("train")
    scans = root / "scans"
    scans.mkdir()
    for name, height in zip(SUBJECTS, (1.6, 1.7, 1.8), strict=True):
        capsule_person(height).export(scans / f"{name}.ply")
    config = PrepareConfig(
        views=4, size=64, surface_samples=1500, uniform_samples=1500, color_samples=10,
        prt_dirs=4, seed=1,
    )  # fmt: skip
    prepare(scans, root / "data", config)
    torch.manual_seed(0)
    save_native(PIFuHD(tiny_config()), root / "tiny")
    return root / "data", root / "tiny"


def args_for(
    stage: str, prepared: tuple[Path, Path], out: Path, steps: int, *extra: str
) -> list[str]:
    data, init = prepared
    sets = {
        "batch_size": 2, "num_points": 128, "workers": 0, "val_subjects": VAL, "val_items": 1,
        "val_points": 300, "val_resolution": 32, "log_every": 1, "val_every": steps,
        "checkpoint_every": 2, "keep_checkpoints": 2,
    }  # fmt: skip
    args = [stage, "--data", str(data), "--init", str(init), "--out", str(out)]
    args += ["--steps", str(steps), "--device", "cpu"]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return [*args, *extra]


def records(run: Path, event: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    name = (run / "checkpoints" / "latest").read_text().strip()
    return load_file(str(run / "checkpoints" / name / "model.safetensors"))


# ---- configuration ----------------------------------------------------------------------


def test_fine_items_at_a_small_fine_size(prepared: tuple[Path, Path]) -> None:
    data, _ = prepared
    ds = OccupancyDataset(
        data, ["ada"], level="fine", points=PointConfig(count=100, surface_kinds=(1,)),
        augment=AugmentConfig.none(), image_size=64, crop_size=64, fine_size=128,
    )  # fmt: skip
    item = ds[0]
    assert item["image_fine"].shape == (3, 64, 64) and item["image"].shape == (3, 64, 64)
    x0, y0 = item["crop"].tolist()
    calib = item["fine_calib"].double().numpy()
    centers = pixel_centers(128)
    # the fine image's pixel centres land on the crop's align_corners=True sample positions
    u = calib[0, 0] * centers[x0 : x0 + 64] + calib[0, 3]
    v = calib[1, 1] * -centers[y0 : y0 + 64] + calib[1, 3]
    np.testing.assert_allclose(u, np.linspace(-1, 1, 64), atol=1e-5)
    np.testing.assert_allclose(v, np.linspace(-1, 1, 64), atol=1e-5)
    uv = item["fine_calib"][:2, :3] @ item["points"] + item["fine_calib"][:2, 3:]
    assert uv.abs().max() <= 1.0 + 1e-6
    # both levels come from one composite: the coarse image is the fine one downsampled
    full = OccupancyDataset(
        data, ["ada"], level="fine", augment=AugmentConfig.none(), image_size=64,
        crop_size=128, fine_size=128, points=PointConfig(count=100, surface_kinds=(1,)),
    )[0]  # fmt: skip
    down = torch.nn.functional.avg_pool2d(full["image_fine"][None], 2)[0]
    torch.testing.assert_close(full["image"], down, atol=1e-5, rtol=0)


def test_fine_loss_freezes_or_trains_the_coarse_level(prepared: tuple[Path, Path]) -> None:
    data, _ = prepared
    torch.manual_seed(0)
    model = PIFuHD(tiny_config())
    ds = OccupancyDataset(
        data, ["ada"], level="fine", points=PointConfig(count=64, surface_kinds=(1,)),
        image_size=64, crop_size=64, fine_size=128,
    )  # fmt: skip
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    batch = {k: v for k, v in batch.items() if torch.is_tensor(v)}
    normals = [batch["normal_front"], batch["normal_back"]]
    for joint in (False, True):
        model.zero_grad(set_to_none=True)
        losses = fine_losses(model, batch, normals, joint=joint)
        losses["loss"].backward()
        assert model.mlp.filters[0].weight.grad is not None
        coarse_grad = model.netG.mlp.filters[0].weight.grad
        assert (coarse_grad is not None) == joint
        assert ("coarse" in losses) == joint


# ---- training runs ----------------------------------------------------------------------


def test_train_coarse_writes_logs_checkpoints_and_a_mesh(
    prepared: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(args_for("coarse", prepared, run, 4)) == 0
    err = capsys.readouterr().err
    assert "step 4/4" in err and "steps/s" in err and "validation at step 4" in err
    if importlib.util.find_spec("tensorboard") is None:
        assert err.count("tensorboard is not installed") == 1
    else:
        assert list((run / "tensorboard").glob("events.*"))
    train = records(run, "train")
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["lr"] == 1e-3 for r in train)
    (val,) = records(run, "val")
    assert set(val) >= {"coarse_iou", "coarse_precision", "coarse_recall", "mesh_faces"}
    if val["mesh_faces"]:
        assert 0.0 < val["mesh_p2s_cm"] < 300.0 and 0.0 < val["mesh_chamfer_cm"] < 300.0
    assert [r["step"] for r in records(run, "checkpoint")] == [2, 4]
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*")) == [
        "step_0000002",
        "step_0000004",
    ]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000004"
    state = load_trainer_state(run / "checkpoints" / "step_0000004")  # weights_only=True
    assert (state["step"], state["epoch"], state["position"]) == (4, 1, 0)
    assert {"optimizer", "scaler", "rng"} <= set(state)
    model, meta = load_checkpoint(run / "checkpoints" / "step_0000004")
    assert meta["step"] == 4 and model.config == tiny_config()
    if val["mesh_faces"]:
        assert (run / "val" / f"step_0000004_{VAL}_0000.obj").stat().st_size > 0
    assert TrainConfig.from_json((run / "train_config.json").read_text()).steps == 4
    assert resolve_weights(run) == run / "checkpoints" / "step_0000004"  # --init RUN/
    # the run folder is not overwritten by accident
    assert main(args_for("coarse", prepared, run, 4)) == 1
    assert "--resume" in capsys.readouterr().err


def test_resume_is_bit_for_bit(
    prepared: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "whole"
    assert main(args_for("coarse", prepared, whole, 6, "--set", "workers=1")) == 0

    stopped = tmp_path / "stopped"  # leaves after 3 steps (mid-epoch), then resumes
    assert main(args_for("coarse", prepared, stopped, 6, "--stop-after", "3")) == 0
    assert (stopped / "checkpoints" / "latest").read_text().strip() == "step_0000003"
    assert main(["coarse", "--out", str(stopped), "--resume"]) == 0

    crashed = tmp_path / "crashed"  # dies in step 5, after the checkpoint of step 4
    real, calls = train_loop.train_step, {"n": 0}

    def dying(*args: object, **kwargs: object) -> dict:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(train_loop, "train_step", dying)
    with pytest.raises(RuntimeError, match="killed"):
        main(args_for("coarse", prepared, crashed, 6))
    monkeypatch.setattr(train_loop, "train_step", real)
    assert main(args_for("coarse", prepared, crashed, 6, "--resume")) == 0

    reference = final_weights(whole)
    for run in (stopped, crashed):
        weights = final_weights(run)
        assert weights.keys() == reference.keys()
        assert all(torch.equal(weights[k], reference[k]) for k in reference), run.name
        assert [r["step"] for r in records(run, "train")] == [1, 2, 3, 4, 5, 6]
        assert [r["loss"] for r in records(run, "train")][4:] == [
            r["loss"] for r in records(whole, "train")
        ][4:]


def test_fine_stage_trains_only_the_fine_level(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "fine"
    assert main(args_for("fine", prepared, run, 2, "--set", "normals_input=predicted")) == 0
    before = load_file(str(prepared[1] / "model.safetensors"))
    after = final_weights(run)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("image_filter.", "mlp.")) for k in changed)
    assert all(k in changed for k in before if k.startswith("mlp."))  # Omega frozen
    (val,) = records(run, "val")
    assert {"fine_iou", "fine_precision", "fine_recall", "coarse_iou"} <= set(val)


def test_all_stage_alternates_with_bf16_autocast(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "all"
    extra = ("--set", "phase_steps=1", "--set", "amp=bf16", "--set", "val_resolution=0")
    assert main(args_for("all", prepared, run, 4, *extra)) == 0
    train = records(run, "train")
    assert [r["phase"] for r in train] == ["coarse", "fine", "coarse", "fine"]
    assert np.isfinite(train[0]["coarse/loss"]) and np.isfinite(train[1]["fine/loss"])
    assert all(torch.isfinite(w).all() for w in final_weights(run).values())


def test_normals_stage_l1_only_then_with_vgg_weights(
    prepared: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "normals"
    assert main(args_for("normals", prepared, run, 2)) == 0
    err = capsys.readouterr().err
    assert "perceptual loss off: no --vgg-weights given; training normals with L1 only" in err
    before = load_file(str(prepared[1] / "model.safetensors"))
    after = final_weights(run)
    changed = {k.split(".")[1] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"netF", "netB"}
    assert "normal_l1" in records(run, "val")[0]

    torch.manual_seed(0)
    vgg = {f"features.{k}": v for k, v in vgg19_layers().state_dict().items()}
    save_file(vgg, str(tmp_path / "vgg19.safetensors"))
    run = tmp_path / "normals_vgg"
    argv = args_for(
        "normals", prepared, run, 1, "--vgg-weights", str(tmp_path / "vgg19.safetensors")
    )
    assert main(argv) == 0
    (first,) = records(run, "train")
    assert first["vgg"] > 0 and first["loss"] == pytest.approx(5 * first["l1"] + first["vgg"])


def test_bad_inputs_exit_1(
    prepared: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad"
    cases = {
        "no data folder": ["coarse", "--out", str(out)],
        "no subjects/": args_for("coarse", (tmp_path, prepared[1]), out, 1),
        "amp=fp16 needs a CUDA": args_for("coarse", prepared, out, 1, "--set", "amp=fp16"),
        "crop_size 62": args_for("fine", prepared, out, 1, "--set", "crop_size=62"),
        "unknown training config key": args_for("coarse", prepared, out, 1, "--set", "x=1"),
    }
    for message, argv in cases.items():
        assert main(argv) == 1, message
        assert message in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_two_processes_on_gloo_stay_in_sync(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    argv = args_for("coarse", prepared, run, 3, "--set", "check_sync=true")
    argv += ["--set", "val_every=0"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "pifuhd.train", *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    syncs = records(run, "sync")
    assert [s["step"] for s in syncs] == [2, 3]
    assert all(s["in_sync"] and len(s["digests"]) == 2 for s in syncs)
    model, _ = load_checkpoint(run / "checkpoints" / "step_0000003")
    assert weights_digest(model) == syncs[-1]["digests"][0]
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    # 8 items, 2 ranks x batch 2: two steps per epoch
    assert records(run, "train")[-1]["epoch"] == 1
