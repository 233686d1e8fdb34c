"""Checkpoints: native round trip, the official format, and refusing bad files."""

from __future__ import annotations

import argparse
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from pifuhd.checkpoint import load_checkpoint, save_native, save_official
from pifuhd.checkpoint.native import read_native_config
from pifuhd.checkpoint.official import namespaces_from_config
from pifuhd.checkpoint.synthetic import random_model
from pifuhd.errors import CheckpointError
from pifuhd.geometry.projection import default_calib
from pifuhd.models.pifuhd import PIFuHD
from tests.conftest import random_images, tiny_config


def _outputs(model: PIFuHD, seed: int = 0) -> torch.Tensor:
    coarse, fine = random_images(seed)
    pts = torch.rand(1, 3, 300, generator=torch.Generator().manual_seed(seed)) * 2.2 - 1.1
    with torch.no_grad():
        return model(coarse, fine, pts, default_calib())


@pytest.fixture(scope="module")
def official_tiny() -> PIFuHD:
    """A random model whose configuration the official format can express."""
    return random_model(tiny_config(channels=256), seed=3)


def test_native_round_trip(tmp_path: Path) -> None:
    model = random_model(tiny_config(), seed=1)
    save_native(model, tmp_path / "ckpt", metadata={"note": "test"})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded, meta = load_checkpoint(tmp_path / "ckpt")
    assert meta == {"note": "test"}
    assert loaded.config == model.config
    assert torch.equal(_outputs(loaded), _outputs(model))


def test_fake_official_file_matches_native(tmp_path: Path, official_tiny: PIFuHD) -> None:
    save_official(official_tiny, tmp_path / "pifuhd.pt")
    raw = torch.load(tmp_path / "pifuhd.pt", weights_only=False)
    assert isinstance(raw["opt"], argparse.Namespace)
    assert isinstance(raw["opt_netG"], argparse.Namespace)
    loaded, meta = load_checkpoint(tmp_path / "pifuhd.pt")
    assert meta["source"] == "official"
    assert loaded.config == official_tiny.config
    reference = _outputs(official_tiny)
    assert reference.max() > 0  # the comparison is not between two zero fields
    assert torch.equal(_outputs(loaded), reference)


def test_convert_official_to_native(tmp_path: Path, official_tiny: PIFuHD) -> None:
    from pifuhd.cli import main

    save_official(official_tiny, tmp_path / "pifuhd.pt")
    assert main(["convert", str(tmp_path / "pifuhd.pt"), str(tmp_path / "native")]) == 0
    config, meta = read_native_config(tmp_path / "native")
    assert config == official_tiny.config
    assert meta["converted_from"].endswith("pifuhd.pt")
    native, _ = load_checkpoint(tmp_path / "native")
    assert torch.equal(_outputs(native, 2), _outputs(official_tiny, 2))


def test_unsupported_option_is_named(tmp_path: Path, official_tiny: PIFuHD) -> None:
    opt, opt_coarse = namespaces_from_config(official_tiny.config)
    opt_coarse.hg_down = "conv128"
    state = official_tiny.state_dict()
    torch.save({"opt": opt, "opt_netG": opt_coarse, "model_state_dict": state}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=r"opt_netG\.hg_down='conv128'"):
        load_checkpoint(tmp_path / "x.pt")


class Payload:
    """A pickled object that would run code if unpickled unsafely."""

    def __reduce__(self):
        return (os.system, ("touch should_not_exist",))


def _bad_files(tmp: Path, official_tiny: PIFuHD) -> dict[str, tuple[Path, str]]:
    files: dict[str, tuple[Path, str]] = {}
    (tmp / "random.pt").write_bytes(os.urandom(4096))
    files["random bytes"] = (tmp / "random.pt", "not a readable PyTorch checkpoint")
    save_official(official_tiny, tmp / "full.pt")
    data = (tmp / "full.pt").read_bytes()
    (tmp / "truncated.pt").write_bytes(data[: len(data) // 2])
    files["truncated"] = (tmp / "truncated.pt", "corrupt or truncated")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp / "other.pt")
    files["other model"] = (tmp / "other.pt", "not an official PIFuHD checkpoint")
    opt, opt_coarse = namespaces_from_config(official_tiny.config)
    state = {k: v for k, v in official_tiny.state_dict().items() if not k.startswith("mlp.")}
    torch.save({"opt": opt, "opt_netG": opt_coarse, "model_state_dict": state}, tmp / "pifu.pt")
    files["missing tensors"] = (tmp / "pifu.pt", "tensor names differ")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with open(tmp / f"evil{protocol}.pt", "wb") as handle:
            pickle.dump({"opt": Payload()}, handle, protocol=protocol)
        # a raw pickle, not torch's format: refused at the GLOBAL, or unreadable, never run
        files[f"code in pickle, protocol {protocol}"] = (
            tmp / f"evil{protocol}.pt",
            r"refused to load|not a readable PyTorch checkpoint",
        )
    torch.save({"opt": Payload(), "opt_netG": 1, "model_state_dict": {}}, tmp / "evil2.pt")
    files["code in torch file"] = (tmp / "evil2.pt", "refused to load")
    files["missing"] = (tmp / "nope.pt", "no such file")
    (tmp / "folder").mkdir()
    files["folder"] = (tmp / "folder", "is a folder")
    (tmp / "run" / "checkpoints" / "step_0000050").mkdir(parents=True)
    files["training run"] = (tmp / "run", r"is a training run.*run/checkpoints/step_0000050")
    return files


def test_bad_checkpoints_give_one_line_errors(tmp_path: Path, official_tiny: PIFuHD) -> None:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        for label, (path, message) in _bad_files(tmp_path, official_tiny).items():
            with pytest.raises(CheckpointError, match=message) as info:
                load_checkpoint(path)
            text = str(info.value)
            assert "\n" not in text, label
            assert str(path) in text, label
        assert not (tmp_path / "should_not_exist").exists()
    finally:
        os.chdir(cwd)


def test_native_weights_of_another_model(tmp_path: Path) -> None:
    save_native(random_model(tiny_config(), seed=0), tmp_path / "a")
    save_native(random_model(tiny_config(channels=64), seed=0), tmp_path / "b")
    os.replace(tmp_path / "b" / "model.safetensors", tmp_path / "a" / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_checkpoint(tmp_path / "a")
    (tmp_path / "a" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "a")


def test_official_file_is_a_zip_with_pickle(tmp_path: Path, official_tiny: PIFuHD) -> None:
    """The released format is torch's zip container; we read it without unsafe unpickling."""
    save_official(official_tiny, tmp_path / "pifuhd.pt")
    assert zipfile.is_zipfile(tmp_path / "pifuhd.pt")
