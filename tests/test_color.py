"""The colour network and its training stage: configuration, shapes and ranges, the colour
dataset (lights, points, patches), a training step that moves only the colour net, and a tiny
``train color`` run with bit-for-bit resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import default_collate

from pifuhd.checkpoint.color import has_color, load_color
from pifuhd.checkpoint.native import save_native
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.color_dataset import (
    LIGHT_HARSHNESS,
    ColorDataset,
    ColorSampling,
    grid_offsets,
)
from pifuhd.data.prepare import PrepareConfig, prepare
from pifuhd.errors import InputError
from pifuhd.geometry.projection import default_calib, orthographic
from pifuhd.models.color import ColorConfig, ColorNet, to_srgb
from pifuhd.models.color_widen import with_image_skip, with_light_code
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.train import ConfigError, TrainConfig
from pifuhd.train.cli_args import main
from pifuhd.train.color_stage import build_color_net, color_parameters
from pifuhd.train.levels import ColorLoss, StageModule, set_phase_mode
from pifuhd.train.optim import train_step
from pifuhd.train.patch_ssim import patch_offsets
from tests.conftest import tiny_config
from tests.test_prepare import capsule_person

pytestmark = pytest.mark.usefixtures("one_thread")

SUBJECTS = ("ada", "bob", "cy")
VAL = "cy"
ROUNDING = 1e-5
"""float32 round trips through a 4x4 calibration and its inverse (cm-sized values)."""


def tiny_color(geometry: PIFuHD, seed: int = 0) -> ColorNet:
    torch.manual_seed(seed)
    config = ColorConfig.for_geometry(
        geometry.config, base_channels=4, num_blocks=1, mlp_hidden=(16, 8)
    )
    return ColorNet(config)


@pytest.fixture(scope="session")
def color_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(3 capsule subjects x 2 views at 64 px with the ``wild`` preset, a tiny geometry)."""
    root = tmp_path_factory.mktemp("color")
    scans = root / "scans"
    scans.mkdir()
    for name, height in zip(SUBJECTS, (1.6, 1.7, 1.8), strict=True):
        capsule_person(height).export(scans / f"{name}.ply")
    config = PrepareConfig(
        views=2, size=64, surface_samples=200, uniform_samples=200, color_samples=2000,
        prt_dirs=4, seed=1, presets=("wild",),
    )  # fmt: skip
    prepare(scans, root / "data", config)
    torch.manual_seed(0)
    save_native(PIFuHD(tiny_config()), root / "tiny")
    return root / "data", root / "tiny"


# ---- configuration and network ------------------------------------------------------------


def test_color_config_round_trip_and_strictness() -> None:
    config = ColorConfig.for_geometry(tiny_config(), base_channels=8, mlp_hidden=(32, 16))
    assert config.geometry_channels == 8 and config.image_size == 64
    assert ColorConfig.from_json(config.to_json()) == config
    assert config.mlp_config.dims == (8 * 4 + 8 + 1, 32, 16, 3)
    with pytest.raises(ValueError, match="unknown keys"):
        ColorConfig.from_dict({**config.to_dict(), "width": 3})
    with pytest.raises(ValueError, match="newer"):
        ColorConfig.from_dict({"format_version": 99})
    with pytest.raises(ValueError, match="divisible"):
        ColorConfig(image_size=66)


def test_color_net_shapes_range_and_permutation() -> None:
    geometry = PIFuHD(tiny_config()).eval()
    net = tiny_color(geometry).eval()
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    features = net.encode(image)
    assert features.shape == (2, 16, 16, 16)  # 64 / 4, 4 * 2^2 channels
    geometry_features = torch.randn(2, 8, 16, 16)
    points = torch.rand(2, 3, 50) * 2 - 1
    calib = default_calib(2)
    with torch.no_grad():
        colors = net.query(features, geometry_features, points, calib)
        order = torch.randperm(50)
        permuted = net.query(features, geometry_features, points[:, :, order], calib)
    assert colors.shape == (2, 3, 50)
    assert colors.abs().max() <= 1.0
    assert torch.allclose(permuted, colors[:, :, order], atol=1e-6)
    srgb = to_srgb(colors)
    assert torch.allclose(srgb, (colors + 1) / 2) and srgb.min() >= 0 and srgb.max() <= 1


def test_grid_offsets_match_patch_offsets() -> None:
    for size, spacing in ((1, 0.5), (3, 1.0), (5, 0.25)):
        expected = patch_offsets(size, spacing, dtype=torch.float64).numpy()
        np.testing.assert_allclose(grid_offsets(size, spacing), expected, atol=1e-12)


# ---- data ---------------------------------------------------------------------------------


def test_color_dataset_points_targets_and_patches(color_data: tuple[Path, Path]) -> None:
    data, _ = color_data
    sampling = ColorSampling(count=40, offset_cm=0.0, patches=5, patch_spacing_cm=2.0)
    dataset = ColorDataset(
        data, ["ada"], sampling=sampling, augment=AugmentConfig(), image_size=64, seed=3
    )
    assert dataset.lights == ("rgb", "rgb_wild")
    item = dataset[1]
    assert item["image"].shape == (3, 64, 64) and item["light"] in dataset.lights
    assert item["color_points"].shape == (3, 40) and item["patch_points"].shape == (3, 5 * 27)
    with np.load(data / "subjects" / "ada" / "colors.npz") as npz:
        points, albedo = npz["points"].astype(np.float64), npz["albedo"]
    # With no offset the colour points are colour samples, and their targets those samples'.
    inverse = np.linalg.inv(item["calib"].double().numpy())
    subject = item["color_points"].double().numpy().T @ inverse[:3, :3].T + inverse[:3, 3]
    nearest = np.argmin(((subject[:, None] - points[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(subject, points[nearest], atol=ROUNDING)
    np.testing.assert_array_equal(item["color_targets"].numpy().T, albedo[nearest])
    # Patch points: a 3x3x3 grid 2 cm apart around each centre; targets of the nearest sample.
    grid = item["patch_points"].double().numpy().T @ inverse[:3, :3].T + inverse[:3, 3]
    patches = grid.reshape(5, 27, 3)
    offsets = np.broadcast_to(grid_offsets(3, 2.0), patches.shape)
    np.testing.assert_allclose(patches - patches[:, 13:14], offsets, atol=ROUNDING)
    nearest = np.argmin(((grid[:, None] - points[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(item["patch_targets"].numpy().T, albedo[nearest])


def test_color_dataset_lights(color_data: tuple[Path, Path]) -> None:
    data, _ = color_data
    lit = ColorDataset(
        data, ["ada", "bob"], lights=("wild",), augment=AugmentConfig.none(), image_size=64
    )
    assert lit.lights == ("rgb_wild",)
    assert {lit[i]["light"] for i in range(len(lit))} == {"rgb_wild"}
    with pytest.raises(InputError, match="not rendered for every subject"):
        ColorDataset(data, ["ada"], lights=("clear",))
    with pytest.raises(InputError, match="unknown light"):
        ColorDataset(data, ["ada"], lights=("sunset",))


# ---- training -----------------------------------------------------------------------------


def test_color_step_trains_only_the_color_net(color_data: tuple[Path, Path]) -> None:
    data, _ = color_data
    geometry = PIFuHD(tiny_config())
    color = tiny_color(geometry)
    params = color_parameters(geometry, color)
    sampling = ColorSampling(count=32, patches=4)
    dataset = ColorDataset(
        data, ["ada", "bob"], sampling=sampling, augment=AugmentConfig.none(), image_size=64
    )
    batch = default_collate([dataset[0], dataset[1]])
    batch = {k: v for k, v in batch.items() if torch.is_tensor(v)}
    module = StageModule(geometry, color=color, color_loss=ColorLoss(ssim_weight=1.0))
    geometry_before = {k: v.clone() for k, v in geometry.state_dict().items()}
    color_before = {k: v.clone() for k, v in color.state_dict().items()}
    set_phase_mode(geometry, "color", color=color)
    assert color.training and not geometry.training
    optimizer = torch.optim.RMSprop(params, lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses = train_step(
        module, batch, "color", optimizer, scaler, params, 0.0, torch.device("cpu"), None
    )
    assert set(losses) == {"loss", "l1", "ssim"}
    assert torch.isclose(losses["loss"], losses["l1"] + losses["ssim"])
    assert all(torch.equal(v, geometry_before[k]) for k, v in geometry.state_dict().items())
    assert all(not p.requires_grad for p in geometry.parameters())
    changed = [k for k, v in color.state_dict().items() if not torch.equal(v, color_before[k])]
    assert len(changed) == len(list(color.parameters()))


def color_args(data: Path, init: Path, out: Path, steps: int, *extra: str) -> list[str]:
    sets = {
        "batch_size": 2, "num_points": 64, "workers": 0, "val_subjects": VAL, "val_items": 1,
        "val_points": 100, "log_every": 1, "val_every": steps, "checkpoint_every": 2,
        "color_width": 4, "color_blocks": 1, "color_ssim_weight": 0.5, "color_patches": 4,
    }  # fmt: skip
    args = ["color", "--data", str(data), "--init", str(init), "--out", str(out)]
    args += ["--steps", str(steps), "--device", "cpu"]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return [*args, *extra]


def test_image_skip_appends_the_pooled_image_and_widening_keeps_the_colours() -> None:
    geometry = PIFuHD(tiny_config()).eval()
    net = tiny_color(geometry).eval()
    old = {k: v for k, v in net.config.to_dict().items() if k != "image_skip"}
    assert ColorConfig.from_dict(old).image_skip is False  # files written before the option
    wide = with_image_skip(net).eval()
    assert wide.config.image_skip and wide.config.mlp_config.dims[0] == 16 + 3 + 8 + 1
    assert ColorConfig.from_json(wide.config.to_json()) == wide.config
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        features = wide.encode(image)
    assert features.shape == (1, 19, 16, 16)
    # the last 3 channels: each feature pixel's mean over its 4 x 4 image pixels
    block = image[0, :, 4:8, 8:12].mean(dim=(1, 2))
    assert torch.allclose(features[0, 16:, 1, 2], block, atol=1e-6)
    assert torch.equal(features[:, :16], net.encode(image).detach())
    geometry_features = torch.randn(1, 8, 16, 16)
    points = torch.rand(1, 3, 40) * 2 - 1
    calib = default_calib(1)
    with torch.no_grad():
        before = net(image, geometry_features, points, calib)
        after = wide(image, geometry_features, points, calib)
        torch.nn.init.normal_(wide.mlp.filters[0].weight)
        changed = wide(image, geometry_features, points, calib)
    assert torch.allclose(before, after, atol=1e-6)  # zero weights: the same colours
    assert (changed - before).abs().max() > 1e-2  # ... until the new weights are trained
    with pytest.raises(ValueError, match="already"):
        with_image_skip(wide)


def test_residual_net_starts_as_the_photo_colour_and_learns_a_correction() -> None:
    geometry = PIFuHD(tiny_config()).eval()
    net = with_image_skip(tiny_color(geometry), residual=True).eval()
    assert net.config.residual and ColorConfig.from_json(net.config.to_json()) == net.config
    with pytest.raises(ValueError, match="needs image_skip"):
        ColorConfig(residual=True)
    image = torch.rand(1, 3, 64, 64) * 1.6 - 0.8
    # points on feature pixels (row 3, columns 5 and 9; align_corners): no interpolation
    u, v = torch.tensor([5.0, 9.0]) * 2 / 15 - 1, torch.full((2,), 3.0 * 2 / 15 - 1)
    points = torch.stack([u, -v, torch.zeros(2)])[None]  # the test calib flips y
    calib = default_calib(1)
    assert torch.allclose(orthographic(points, calib)[0, :2], torch.stack([u, v]))
    with torch.no_grad():
        colors = net(image, torch.randn(1, 8, 16, 16), points, calib)
        torch.nn.init.normal_(net.mlp.filters[-1].bias, std=0.5)
        corrected = net(image, torch.randn(1, 8, 16, 16), points, calib)
    block = torch.stack([image[0, :, 12:16, 20:24], image[0, :, 12:16, 36:40]], -1).mean((1, 2))
    assert torch.allclose(colors[0], block, atol=1e-5)  # the photo's colour, pooled
    expected = torch.tanh(torch.atanh(block) + net.mlp.filters[-1].bias[:, None])
    assert torch.allclose(corrected[0], expected, atol=1e-5)


def test_light_code_is_the_points_colour_statistics_and_chunks_agree() -> None:
    geometry = PIFuHD(tiny_config()).eval()
    skip = with_image_skip(tiny_color(geometry), residual=True).eval()
    net = with_light_code(skip).eval()
    assert net.config.light_code and net.config.mlp_config.dims[0] == 16 + 3 + 8 + 1 + 6
    with pytest.raises(ValueError, match="needs image_skip"):
        ColorConfig(light_code=True)
    with pytest.raises(ValueError, match="with image_skip and without a light code"):
        with_light_code(net)
    image = torch.rand(1, 3, 64, 64) * 1.6 - 0.8
    u = torch.tensor([2.0, 5.0, 9.0, 12.0]) * 2 / 15 - 1
    v = torch.tensor([3.0, 3.0, 7.0, 11.0]) * 2 / 15 - 1
    points = torch.stack([u, -v, torch.zeros(4)])[None]
    calib = default_calib(1)
    geometry_features = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        features = net.encode(image)
        code = net.light_code_of(features, points, calib)
        before = skip(image, geometry_features, points, calib)
        after = net(image, geometry_features, points, calib)
        torch.nn.init.normal_(net.mlp.filters[0].weight)
        torch.nn.init.normal_(net.mlp.filters[-1].weight)
        whole = net.query(features, geometry_features, points, calib)
        halves = [net.query(features, geometry_features, points[:, :, i : i + 2], calib, code)
                  for i in (0, 2)]  # fmt: skip
        own = net.query(features, geometry_features, points[:, :, :2], calib)
    assert torch.allclose(before, after, atol=1e-6)  # zero weights: unchanged
    pixels = [(3, 2), (3, 5), (7, 9), (11, 12)]  # (row, column) of the 16 x 16 grid
    blocks = torch.stack([image[0, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4].mean((1, 2))
                          for r, c in pixels], 1)  # fmt: skip
    expected = torch.cat([blocks.mean(1), blocks.std(1)])
    assert torch.allclose(code[0, :, 0], expected, atol=1e-5)
    assert torch.allclose(torch.cat(halves, dim=2), whole, atol=1e-6)  # one code for all
    assert (own - whole[:, :, :2]).abs().max() > 1e-3  # a code of 2 points differs


def test_color_image_skip_widens_an_init_net(color_data: tuple[Path, Path], tmp_path: Path) -> None:
    data, init = color_data
    run = tmp_path / "run"
    assert main(color_args(data, init, run, 1)) == 0
    config = TrainConfig.for_stage(
        "color", data=str(data), init=str(latest(run)), color_image_skip=True
    )
    net = build_color_net(config, PIFuHD(tiny_config()), None)
    loaded, _ = load_color(latest(run))
    assert net.config.image_skip and not loaded.config.image_skip
    first = net.mlp.filters[0].weight
    skip = loaded.config.encoder_channels
    assert torch.equal(first[:, skip : skip + 3], torch.zeros_like(first[:, :3]))
    assert torch.equal(first[:, :skip], loaded.mlp.filters[0].weight[:, :skip])
    fresh = TrainConfig.for_stage("color", data=str(data), init=str(init), color_image_skip=True)
    assert build_color_net(fresh, PIFuHD(tiny_config()), None).config.image_skip
    residual = dataclasses.replace(config, color_image_skip=False, color_residual=True)
    net = build_color_net(residual, PIFuHD(tiny_config()), None)
    assert net.config.image_skip and net.config.residual
    assert not net.mlp.filters[-1].weight.any() and not net.mlp.filters[-1].bias.any()
    assert torch.equal(net.mlp.filters[0].weight[:, :skip], loaded.mlp.filters[0].weight[:, :skip])
    with pytest.raises(ConfigError, match="cannot be switched on when resuming"):
        build_color_net(config, PIFuHD(tiny_config()), latest(run))
    coded = dataclasses.replace(config, color_image_skip=False, color_light_code=True)
    net = build_color_net(coded, PIFuHD(tiny_config()), None)
    assert net.config.image_skip and net.config.light_code and not net.config.residual
    assert not net.mlp.filters[0].weight[:, -6:].any()
    aware = dataclasses.replace(config, color_image_skip=False, color_light_input=True)
    net = build_color_net(aware, PIFuHD(tiny_config()), None)
    assert net.config.light_input and not net.mlp.filters[0].weight[:, -1].any()
    coded_run = tmp_path / "coded"  # a run with the code and the SSIM patches trains
    assert main(color_args(data, init, coded_run, 1, "--set", "color_light_code=true")) == 0
    assert load_color(latest(coded_run))[0].config.light_code
    aware_run = tmp_path / "aware"  # the harshness reaches the loss through the batch
    assert main(color_args(data, init, aware_run, 1, "--set", "color_light_input=true")) == 0
    assert load_color(latest(aware_run))[0].config.light_input
    dataset = ColorDataset(data, [VAL], lights=("rgb_wild",), augment=AugmentConfig.none())
    assert float(dataset[0]["harshness"]) == LIGHT_HARSHNESS["rgb_wild"] == 1.0
    assert LIGHT_HARSHNESS["rgb_clear"] == 0.0


def latest(run: Path) -> Path:
    return run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()


def test_train_color_run_resume_and_fine_tune(
    color_data: tuple[Path, Path], tmp_path: Path
) -> None:
    data, init = color_data
    whole = tmp_path / "whole"
    assert main(color_args(data, init, whole, 3)) == 0
    stopped = tmp_path / "stopped"
    assert main(color_args(data, init, stopped, 3, "--stop-after", "1")) == 0
    assert main(["color", "--out", str(stopped), "--resume"]) == 0
    reference, resumed = latest(whole), latest(stopped)
    assert reference.name == resumed.name == "step_0000003" and has_color(reference)
    a = load_file(str(reference / "color" / "model.safetensors"))
    b = load_file(str(resumed / "color" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    geometry = load_file(str(reference / "model.safetensors"))
    original = load_file(str(init / "model.safetensors"))
    assert geometry.keys() == original.keys()
    assert all(torch.equal(geometry[k], original[k]) for k in original)  # frozen
    # A colour checkpoint as --init: the colour net continues from its weights (fine-tuning).
    config = TrainConfig.for_stage("color", data=str(data), init=str(whole), color_width=8)
    net = build_color_net(config, PIFuHD(tiny_config()), None)
    loaded, _ = load_color(reference)
    assert net.config == loaded.config  # the checkpoint's architecture, not color_width=8
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in net.state_dict().items())


def test_train_color_needs_a_geometry(color_data: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = color_data
    config = TrainConfig.for_stage("color", data=str(data), out=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="needs a trained geometry: pass --init"):
        build_color_net(config, PIFuHD(tiny_config()), None)


def test_a_geometry_reading_body_normals_trains_colour_on_true_normals(
    color_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The colour stage feeds the encoders the true normal maps, so a geometry whose normal
    nets read the body needs no bodies in the data; predicted normals are refused."""
    from pifuhd.checkpoint.widen import with_body_normal_inputs

    data, _ = color_data
    torch.manual_seed(0)
    init = save_native(with_body_normal_inputs(PIFuHD(tiny_config())), tmp_path / "init", {})
    assert main(color_args(data, init, tmp_path / "gt", 1)) == 0
    assert has_color(latest(tmp_path / "gt"))
    predicted = color_args(data, init, tmp_path / "pred", 1, "--set", "normals_input=predicted")
    assert main(predicted) != 0
    assert "train the colour net with --set normals_input=gt" in capsys.readouterr().err
