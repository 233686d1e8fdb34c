"""Training: the configuration (files, --set, flags), phases and sharding, the train parser,
and the model's training API against inference."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pifuhd.geometry.projection import default_calib
from pifuhd.models.pifuhd import PIFuHD, crop_upsampled, upsample_normals
from pifuhd.train import ConfigError, TrainConfig, build_config
from pifuhd.train.cli_args import add_train_parser
from pifuhd.train.distributed import DistInfo, batch_indices
from pifuhd.train.loop import phase_at
from pifuhd.train.optim import learning_rate
from tests.conftest import random_images, tiny_config

EXACT = dict(atol=0.0, rtol=0.0)
"""The training API must give inference's numbers exactly."""
ROUNDING = dict(atol=1e-6, rtol=0.0)
"""grid_sample vs interpolate: the same bilinear weights, computed differently."""

pytestmark = pytest.mark.usefixtures("one_thread")


def test_config_round_trip_and_strictness() -> None:
    config = TrainConfig.for_stage("fine", lr=3e-4, val_subjects=("a", "b"), amp="bf16")
    assert TrainConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["format_version"] == 1
    with pytest.raises(ConfigError, match="unknown training config keys"):
        TrainConfig.from_dict({"stage": "coarse", "learning_rate": 1.0})
    with pytest.raises(ConfigError, match="newer"):
        TrainConfig.from_dict({"format_version": 99})
    with pytest.raises(ConfigError, match="batch_size must be int"):
        TrainConfig.from_dict({"batch_size": "4"})
    with pytest.raises(ConfigError, match="amp must be one of"):
        TrainConfig.from_dict({"amp": "fp8"})
    normals = TrainConfig.for_stage("normals")
    assert (normals.optimizer, normals.lr) == ("adam", 2e-4)
    assert TrainConfig.for_stage("coarse").optimizer == "rmsprop"


def test_config_file_then_set_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('lr = 0.01\nbatch_size = 8\nbackground = "grey"\n')
    config = build_config(
        "coarse",
        toml,
        ["batch_size=3", "augment=false", "val_subjects=a, b", "lr_decay_every=2"],
        {"steps": 7, "device": None},
    )
    assert (config.lr, config.batch_size, config.steps) == (0.01, 3, 7)
    assert config.augment is False and config.val_subjects == ("a", "b")
    assert config.background == "grey" and config.device == "auto"
    as_json = tmp_path / "run.json"
    as_json.write_text(config.to_json())
    assert build_config("coarse", as_json) == config
    with pytest.raises(ConfigError, match="stage 'coarse' differs"):
        build_config("fine", as_json)
    with pytest.raises(ConfigError, match="unknown training config key"):
        build_config("coarse", None, ["nope=1"])
    with pytest.raises(ConfigError, match="not a valid int"):
        build_config("coarse", None, ["steps=ten"])
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_config("coarse", bad)


def test_schedule_phases_and_sharding() -> None:
    config = TrainConfig(lr=1.0, lr_decay_every=2, lr_decay_unit="epoch")
    assert [learning_rate(config, 0, e) for e in range(5)] == [1.0, 1.0, 0.1, 0.1, 0.1 * 0.1]
    by_step = config.replace(lr_decay_unit="step", lr_decay_every=3)
    assert learning_rate(by_step, 5, 0) == pytest.approx(0.1)
    warm = TrainConfig(lr=1.0, warmup_steps=4)
    assert [learning_rate(warm, s, 0) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    warm_decay = by_step.replace(warmup_steps=10)
    assert learning_rate(warm_decay, 4, 0) == pytest.approx(0.1 * 0.5)
    with pytest.raises(ConfigError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)
    phases = [phase_at("all", s, 2) for s in range(5)]
    assert phases == ["coarse", "coarse", "fine", "fine", "coarse"]
    assert phase_at("fine", 3, 2) == "fine"
    ranks = [batch_indices(10, 2, DistInfo(r, 2), seed=3, epoch=1, position=1) for r in range(2)]
    assert not set(ranks[0]) & set(ranks[1]) and len(ranks[0]) == 2
    assert ranks[0] == batch_indices(10, 2, DistInfo(0, 2), seed=3, epoch=1, position=1)
    assert ranks[0] != batch_indices(10, 2, DistInfo(0, 2), seed=3, epoch=2, position=1)


def test_add_train_parser_plugs_into_a_command() -> None:
    parser = argparse.ArgumentParser(prog="pifuhd")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "all", "--set", "lr=1e-4", "--set", "batch_size=4"])
    assert args.stage == "all" and args.overrides == ["lr=1e-4", "batch_size=4"]
    assert callable(args.func)
    # adding the subcommand keeps `pifuhd --help` fast: torch loads only when training runs
    probe = "import sys, pifuhd.train.cli_args; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


# ---- the model's training API -----------------------------------------------------------


def test_logits_api_gives_inference_outputs() -> None:
    torch.manual_seed(0)
    model = PIFuHD(tiny_config()).eval()
    coarse, fine = random_images(1)
    points = torch.rand(1, 3, 200) * 2.2 - 1.1  # some outside the cube
    calib = default_calib(1)
    with torch.no_grad():
        features = model.encode(coarse, fine)
        occ_c, occ_f = model.query_levels(features, points, calib)
        logits, omega, inside = model.netG.query_logits(features.coarse, points, calib)
        torch.testing.assert_close(torch.sigmoid(logits) * inside, occ_c, **EXACT)
        fine_logits, fine_inside = model.fine_logits(features.fine, omega, points, calib)
        torch.testing.assert_close(torch.sigmoid(fine_logits) * fine_inside, occ_f, **EXACT)
        same = model.query_levels(features, points, calib, fine_calib=calib)
        torch.testing.assert_close(same[1], occ_f, **EXACT)
        torch.testing.assert_close(model.query(features, points, calib), occ_f, **EXACT)


def test_crop_upsampled_equals_upsample_then_slice() -> None:
    maps = torch.rand(2, 6, 16, 16)
    origins = torch.tensor([[0, 0], [5, 11]])
    crops = crop_upsampled(maps, origins, 16, 32)
    full = upsample_normals(maps, 32)
    for b, (x0, y0) in enumerate(origins.tolist()):
        torch.testing.assert_close(crops[b], full[b, :, y0 : y0 + 16, x0 : x0 + 16], **ROUNDING)
