"""Body-guided normal nets: the body's normal maps, the widened nets, items and training.

The training test needs ``anny`` (a cold ANNY_CACHE_DIR costs about 80 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from pifuhd.checkpoint.widen import with_body_normal_inputs
from pifuhd.data.asset import pixel_centers
from pifuhd.geometry.body_normals import body_normal_maps
from pifuhd.models.pifuhd import PIFuHD
from tests.conftest import tiny_config

SPHERE_TOL = 0.01
"""Largest component error of an icosphere's (level 4) interpolated normals, measured 0.0033."""


def _sphere_maps(size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maps of a sphere (radius 0.5 at (0.2, -0.1, 0.1)), its analytic front normals and
    the pixels well inside its outline."""
    sphere = trimesh.creation.icosphere(4, radius=0.5)
    sphere.apply_translation([0.2, -0.1, 0.1])
    maps = body_normal_maps(sphere.vertices, sphere.faces, size)
    c = pixel_centers(size)
    x, y = np.meshgrid(c - 0.2, -c + 0.1)
    z = np.sqrt(np.clip(0.25 - x**2 - y**2, 0.0, None))
    return maps, np.stack([x, y, z]) / 0.5, x**2 + y**2 < 0.45**2


def test_a_spheres_maps_are_its_outward_normals_front_and_back() -> None:
    maps, front, inside = _sphere_maps()
    assert maps.shape == (2, 3, 256, 256) and maps.dtype == np.float32
    assert np.abs(maps[0][:, inside] - front[:, inside]).max() < SPHERE_TOL
    back = front * np.array([1.0, 1.0, -1.0])[:, None, None]
    assert np.abs(maps[1][:, inside] - back[:, inside]).max() < SPHERE_TOL
    covered = np.abs(maps[0]).sum(0) > 0
    assert covered[inside].all()
    outside = ~(np.hypot(*np.meshgrid(pixel_centers(256) - 0.2, -pixel_centers(256) + 0.1)) < 0.5)
    assert not covered[outside].any()  # zero off the body
    assert np.allclose(np.linalg.norm(maps[0][:, covered], axis=0), 1.0, atol=1e-5)


def test_no_faces_or_a_body_beyond_the_square_gives_zeros() -> None:
    assert not body_normal_maps(np.zeros((3, 3)), np.zeros((0, 3), int), 32).any()
    far = trimesh.creation.icosphere(2, radius=0.2)
    far.apply_translation([3.0, 0.0, 0.0])
    assert not body_normal_maps(far.vertices, far.faces, 32).any()


def test_the_pipeline_gives_the_fitted_bodys_maps_or_none() -> None:
    from pifuhd.guards import Bounds, body_normal_input

    sphere = trimesh.creation.icosphere(3, radius=0.5)
    maps = body_normal_input(Bounds(None, sphere.vertices, sphere.faces), 64)
    expected = body_normal_maps(sphere.vertices, sphere.faces, 64).reshape(1, 6, 64, 64)
    assert maps is not None and np.array_equal(maps.numpy(), expected)
    assert body_normal_input(Bounds(None), 64) is None  # no fit: the nets get zeros


def test_widened_normal_nets_start_as_the_source_and_read_the_body_by_side() -> None:
    torch.manual_seed(0)
    model = PIFuHD(tiny_config()).eval()
    wide = with_body_normal_inputs(model)
    assert wide.netG.body_normals and not model.netG.body_normals
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    body = torch.randn(2, 6, 64, 64)
    with torch.no_grad():
        plain, guided = model.netG.predict_normals(image), wide.netG.predict_normals(image, body)
        for a, b in zip(plain, guided, strict=True):
            assert torch.equal(a, b)
        # trained weights on the body channels: the front net reads channels 0-2, the back 3-5
        wide.netG.netF.model[1].weight[:, 3:] = 1.0
        front, back = wide.netG.predict_normals(image, body)
        swapped = torch.cat([body[:, :3], torch.zeros_like(body[:, 3:])], 1)
        front2, back2 = wide.netG.predict_normals(image, swapped)
        assert torch.equal(front, front2) and torch.equal(back, back2)
        assert not torch.equal(front, wide.netG.predict_normals(image, None)[0])
    with pytest.raises(ValueError, match="already read"):
        with_body_normal_inputs(wide)
    with pytest.raises(ValueError, match="body normal maps must be"):
        wide.netG.predict_normals(image, body[:, :3])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, anny_cache: None) -> Iterator[Path]:
    """One synthetic person and a box, prepared with their true bodies (2 views)."""
    pytest.importorskip("anny")
    from pifuhd.data.prepare import prepare
    from pifuhd.synth.people import make_person, write_person
    from tests.test_prepare import TINY

    scans = tmp_path_factory.mktemp("scans")
    write_person(make_person(0, atlas_size=256), scans / "person_00000")
    trimesh.creation.box(extents=[0.4, 1.7, 0.3]).export(scans / "box.ply")
    out = tmp_path_factory.mktemp("data")
    prepare(scans, out, replace(TINY, views=2, bodies="true"))
    yield out


def test_items_carry_the_body_normals_aligned_with_the_true_ones(prepared: Path) -> None:
    """The true body sits inside the clothes: where both cover a pixel its normals follow the
    clothed surface's (mean cosine measured 0.85-0.9 on fitted bodies at 512 px), also after
    a mirroring augmentation."""
    from pifuhd.data.augment import AugmentConfig
    from pifuhd.data.dataset import OccupancyDataset

    with pytest.raises(ValueError, match="needs bodies"):
        OccupancyDataset(prepared, ["person_00000"], body_normals=True)
    mirror = AugmentConfig.none()
    for augment in (AugmentConfig.none(), replace(mirror, flip=1.0)):
        items = OccupancyDataset(
            prepared, ["person_00000"], bodies="true", body_normals=True, image_size=64,
            augment=augment,
        )  # fmt: skip
        for i in range(len(items)):
            item = items[i]
            maps = item["body_normals"].numpy()
            assert maps.shape == (6, 64, 64)
            for side, key in ((0, "normal_front"), (1, "normal_back")):
                body, true = maps[3 * side : 3 * side + 3], item[key].numpy()
                both = (np.abs(body).sum(0) > 0) & (np.abs(true).sum(0) > 0)
                assert both.sum() > 100
                assert (body * true).sum(0)[both].mean() > 0.7
    dropped = OccupancyDataset(
        prepared, ["person_00000"], bodies="true", body_dropout=1.0, body_normals=True,
        image_size=64,
    )  # fmt: skip
    assert not dropped[0]["body_normals"].any()


def test_normals_training_reads_the_body_and_refuses_to_run_without(
    prepared: Path, tmp_path: Path, one_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    from pifuhd.checkpoint.native import save_native
    from pifuhd.train.cli_args import main as train_main

    torch.manual_seed(0)
    init = save_native(with_body_normal_inputs(PIFuHD(tiny_config())), tmp_path / "init", {})
    sets = {"batch_size": 1, "workers": 0, "val_subjects": "box", "val_every": 0, "log_every": 1}

    def run(out: Path, bodies: str) -> int:
        args = ["normals", "--data", str(prepared), "--init", str(init), "--out", str(out)]
        args += ["--steps", "2", "--device", "cpu", "--set", f"bodies={bodies}"]
        for key, value in sets.items():
            args += ["--set", f"{key}={value}"]
        return train_main(args)

    assert run(tmp_path / "none", "none") != 0
    assert "normal nets read the body's normal maps: train with --set bodies=fit" in (
        capsys.readouterr().err
    )
    assert run(tmp_path / "run", "true") == 0
    latest = tmp_path / "run" / "checkpoints"
    after = load_file(str(latest / (latest / "latest").read_text().strip() / "model.safetensors"))
    for net in ("netF", "netB"):
        assert after[f"netG.{net}.model.1.weight"][:, 3:].abs().sum() > 0  # the body is read
