"""The colour net that corrects the sharp photo (``ColorConfig.sharp_residual``): at first the
photo's own pixel instead of the 4 x 4 block mean, the same weights; the training items carry
the photo with its mask's edge filled from within; the reconstructor hands the net the fine
crop that ``--texture photo`` samples."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from pifuhd.checkpoint.color import load_color, save_color
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.color_dataset import ColorDataset
from pifuhd.data.dataset import _load
from pifuhd.geometry.normal_refine import visible_from
from pifuhd.geometry.projection import default_calib
from pifuhd.inference import Reconstructor
from pifuhd.models.color import ColorConfig
from pifuhd.models.color_widen import with_image_skip, with_sharp_residual
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.surface_colors import sample_image
from pifuhd.train import ConfigError, TrainConfig
from pifuhd.train.cli_args import main
from pifuhd.train.color_stage import build_color_net
from tests.conftest import PERSON, tiny_config
from tests.test_color import VAL, color_args, latest, tiny_color
from tests.test_color import color_data as color_data  # a fixture
from tests.test_texture import checkpoints as checkpoints  # a fixture

pytestmark = pytest.mark.usefixtures("one_thread")


def residual_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    """(a residual tiny net with a zero last layer, its sharp copy), evaluation mode."""
    geometry = PIFuHD(tiny_config()).eval()
    pooled = with_image_skip(tiny_color(geometry), residual=True).eval()
    return pooled, with_sharp_residual(pooled).eval()


def test_sharp_residual_corrects_the_pixel_not_the_block_mean() -> None:
    """With a zero correction the sharp net returns the photo's pixel at each point (a pixel
    checkerboard) and the block-mean net its 4 x 4 mean (0 here); with a correction both add
    the same logits, so on an image constant over each 4 x 4 block they agree."""
    pooled, sharp = residual_pair()
    assert sharp.config.sharp_residual and not pooled.config.sharp_residual
    with pytest.raises(ValueError, match="without one"):
        with_sharp_residual(sharp)
    with pytest.raises(ValueError, match="needs residual"):
        ColorConfig(image_skip=True, sharp_residual=True)
    rows, cols = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    checker = torch.from_numpy(((rows + cols) % 2 * 1.2 - 0.6).astype(np.float32))
    image = checker.expand(1, 3, 64, 64).contiguous()
    pick = torch.tensor([[3, 10], [20, 21], [40, 7], [63, 0], [31, 32]])  # (row, col)
    centres = pick.float() * 2 / 63 - 1  # align_corners: pixel centres at -1 .. 1
    points = torch.stack([centres[:, 1], -centres[:, 0], torch.full((5,), 0.1)])[None]
    calib, geometry_features = default_calib(1), torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        features = sharp.encode(image)
        own = sharp.query(features, geometry_features, points, calib, photo=image)
        block = pooled.query(features, geometry_features, points, calib)
        with pytest.raises(ValueError, match="needs the photo"):
            sharp.query(features, geometry_features, points, calib)
    expected = checker[pick[:, 0], pick[:, 1]]
    assert torch.allclose(own[0], expected.expand(3, 5), atol=1e-5)
    assert block.abs().max() < 1e-5  # each 4 x 4 block of the checkerboard averages 0
    blocky = torch.rand(1, 3, 16, 16).repeat_interleave(4, 2).repeat_interleave(4, 3) - 0.5
    cells = torch.randint(0, 16, (2, 40)).float() * 2 / 15 - 1  # feature pixel centres,
    inner = torch.cat([cells, torch.rand(1, 40) - 0.5])[None]  # which fall inside their block
    with torch.no_grad():
        sharp.mlp.filters[-1].weight.normal_()
        pooled.load_state_dict(sharp.state_dict())
        features = sharp.encode(blocky)
        a = sharp.query(features, geometry_features, inner, calib, photo=blocky)
        b = pooled.query(features, geometry_features, inner, calib)
    assert (a - b).abs().max() < 1e-5 and a.std() > 0.05


def test_training_items_carry_the_filled_photo(color_data: tuple[Path, Path]) -> None:
    """``photo``: the item's image inside the mask shrunk by the edge band, outside it the
    colour of a pixel within (no background grey)."""
    data, _ = color_data
    dataset = ColorDataset(
        data, [VAL], augment=AugmentConfig.none(), image_size=64, photo=True, lights=("wild",)
    )
    item = dataset[0]
    assert "photo" not in ColorDataset(data, [VAL], augment=AugmentConfig.none())[0]
    image, photo = item["image"].numpy(), item["photo"].numpy()
    subject = dataset.subjects[0]
    mask = _load(subject.folder / "mask" / subject.views[0]["file"], 64)[0].numpy() > 0.5
    inner = ndimage.binary_erosion(mask, iterations=2)
    np.testing.assert_allclose(photo[:, inner], image[:, inner], atol=1e-6)
    outside = ~ndimage.binary_dilation(mask, iterations=2)
    person = {tuple(c) for c in np.round(image[:, mask].T, 4)}
    filled = {tuple(c) for c in np.round(photo[:, outside].T, 4)}
    assert filled <= person and len(filled) > 1


def test_a_sharp_run_trains_and_needs_its_setting(
    color_data: tuple[Path, Path], tmp_path: Path
) -> None:
    data, init = color_data
    run = tmp_path / "sharp"
    extra = ("--set", "color_residual=true", "--set", "color_sharp_residual=true")
    assert main(color_args(data, init, run, 1, *extra)) == 0
    net, _ = load_color(latest(run))
    assert net.config.sharp_residual and net.config.residual
    plain = TrainConfig.for_stage("color", data=str(data), init=str(latest(run)))
    with pytest.raises(ConfigError, match="color_sharp_residual=true"):
        build_color_net(plain, PIFuHD(tiny_config()), None)
    kept = build_color_net(
        dataclasses.replace(plain, color_sharp_residual=True), PIFuHD(tiny_config()), None
    )
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in kept.state_dict().items())
    unresidual = TrainConfig.for_stage("color", data=str(data), init=str(init))
    fresh = dataclasses.replace(unresidual, color_sharp_residual=True, color_width=4)
    assert build_color_net(fresh, PIFuHD(tiny_config()), None).config.sharp_residual


def test_the_reconstructor_hands_the_net_the_photo_it_samples(
    tmp_path: Path, checkpoints: tuple[Path, Path]
) -> None:
    """A sharp net with a zero correction colours every vertex as ``--texture photo`` does."""
    _, plain = checkpoints  # a tiny geometry with a surface for PERSON, no colour net
    folder = tmp_path / "sharp"
    shutil.copytree(plain, folder)
    torch.manual_seed(2)
    color = with_image_skip(tiny_color(PIFuHD(tiny_config())), residual=True)
    save_color(with_sharp_residual(color), folder)
    rec = Reconstructor(folder, device="cpu", resolution=32, texture=True, texture_mode="net")
    result = rec(PERSON)
    vertices = np.asarray(result.mesh.vertices)
    seen = visible_from(result.mesh, 1.0)
    expected = np.clip(sample_image(result.color_evidence.image, vertices), 0.0, 1.0)
    got = result.color_evidence.net(vertices)
    assert seen.any() and not seen.all()
    assert np.abs(got - expected).max() < 5e-3  # the residual's clamp at 0.995; hidden
    # vertices too: the pixel of the surface in front of them
