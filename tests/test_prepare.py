"""`pifuhd prepare` and the training dataset on tiny scans: layout, resume, shards, augments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from pifuhd.cli import main
from pifuhd.data import prepare as prep
from pifuhd.data.augment import AugmentConfig
from pifuhd.data.dataset import (
    OccupancyDataset,
    PointConfig,
    list_subjects,
    on_mask,
    split_subjects,
)
from pifuhd.data.prepare import PrepareConfig, prepare
from pifuhd.errors import InputError

TINY = PrepareConfig(
    views=4,
    size=64,
    surface_samples=3000,
    uniform_samples=3000,
    color_samples=500,
    prt_dirs=8,
    seed=3,
)
INSIDE_ON_MASK = 0.98
"""Share of inside points that must project onto the (dilated) mask; pixel rounding aside."""


def capsule_person(height: float) -> trimesh.Trimesh:
    """A standing capsule (y up, metres) with vertex colours varying with height."""
    body = trimesh.creation.capsule(height=height - 0.4, radius=0.2, count=[16, 16])
    body.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    t = (body.vertices[:, 1] - body.vertices[:, 1].min()) / np.ptp(body.vertices[:, 1])
    colors = np.stack([t, 1 - t, 0.5 * np.ones_like(t), np.ones_like(t)], axis=1)
    body.visual.vertex_colors = (colors * 255).astype(np.uint8)
    return body


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    capsule_person(1.7).export(folder / "anna.ply")
    (folder / "ben").mkdir()
    capsule_person(1.8).export(folder / "ben" / "mesh.ply")
    (folder / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n")
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "subject.json" and not p.name.startswith("manifest")
    }


def test_prepare_layout_and_bad_mesh(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    results = prepare(scans, out, replace(TINY, presets=("wild", "clear")))
    status = {r.name: r.status for r in results}
    assert status == {"anna": "done", "ben": "done", "broken": "failed"}
    assert "NaN" in next(r.error for r in results if r.name == "broken")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"done": 2, "skipped": 0, "failed": 1}
    assert manifest["seed"] == 3 and manifest["versions"]["numpy"]
    subject = out / "subjects" / "anna"
    for name in ("rgb", "rgb_32", "normal_front", "normal_back", "mask", "depth_front"):
        assert len(list((subject / name).glob("*.png"))) == 4
    # the half-size render is named by its size (rgb_512 for the default 1024)
    assert Image.open(subject / "rgb_32" / "0000.png").size == (32, 32)
    assert not (subject / "rgb_512").exists()
    # fixed lights: same silhouette, different shading (wild is harsh, clear is soft)
    wild = np.asarray(Image.open(subject / "rgb_wild" / "0000.png"), dtype=float)
    clear = np.asarray(Image.open(subject / "rgb_clear" / "0000.png"), dtype=float)
    mask = np.asarray(Image.open(subject / "mask" / "0000.png")) > 0
    assert ((wild.sum(-1) > 0) <= mask).all() and np.abs(wild - clear)[mask].mean() > 5
    views = json.loads((subject / "views.json").read_text())["views"]
    assert [v["yaw"] for v in views] == [0.0, 90.0, 180.0, 270.0]
    samples = np.load(subject / "samples.npz")
    assert samples["points"].shape == (12000, 3)
    assert np.bincount(samples["kind"]).tolist() == [3000, 3000, 3000, 3000]
    # the capsule's axis is inside, points far out are outside
    r = np.linalg.norm(samples["points"][:, [0, 2]], axis=1)
    radius_cm = 0.2 / 1.7 * 180
    body = np.abs(samples["points"][:, 1]) < 90.0 - radius_cm  # between the caps
    assert samples["inside"][body & (r < radius_cm * 0.8)].all()
    assert not samples["inside"][r > radius_cm * 1.2].any()
    assert not (out / "subjects" / "broken" / "subject.json").exists()
    # the normalised ground-truth mesh: 180 cm tall, centred, vertex albedo kept
    truth = trimesh.load(subject / "mesh.ply", process=False)
    assert np.ptp(truth.vertices[:, 1]) == pytest.approx(180.0, abs=1e-3)
    assert np.abs(truth.bounds.sum(axis=0)).max() < 1e-3
    top = np.argmax(truth.vertices[:, 1])
    np.testing.assert_allclose(truth.visual.vertex_colors[top, :3], [255, 0, 128], atol=1)


def test_prepare_deterministic_resumable_and_sharded(
    scans: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = tmp_path / "full"
    prepare(scans, full, TINY)
    reference = _tree(full)

    again = prepare(scans, full, TINY)
    assert {r.name: r.status for r in again}["anna"] == "skipped"

    # a run killed in the middle of a subject's views resumes to the same files
    killed = tmp_path / "killed"
    real = prep.render_view_files
    calls = {"n": 0}

    def dying(*args: object, **kwargs: object) -> dict:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(prep, "render_view_files", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare(scans, killed, TINY)
    monkeypatch.setattr(prep, "render_view_files", real)
    assert not (killed / "subjects" / "anna" / "subject.json").exists()
    assert (killed / "subjects" / "anna" / "rgb" / "0001.png").exists()
    assert not list(killed.rglob("*.tmp"))
    prepare(scans, killed, TINY)
    assert _tree(killed) == reference

    sharded = tmp_path / "sharded"
    first = prepare(scans, sharded, TINY, shard=(1, 2))
    second = prepare(scans, sharded, TINY, shard=(2, 2))
    assert {r.name for r in first} | {r.name for r in second} == {"anna", "ben", "broken"}
    assert not {r.name for r in first} & {r.name for r in second}
    assert (sharded / "manifest-shard-1-of-2.json").exists()
    assert _tree(sharded) == reference


def test_prepare_cli_exit_code_and_bad_options(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["prepare", str(scans), "--out", str(out), "--views", "2", "--size", "32"]
    args += ["--surface-samples", "500", "--uniform-samples", "500", "--color-samples", "50"]
    args += ["--prt-dirs", "4"]
    assert main(args) == 1  # the broken mesh
    assert (out / "subjects" / "anna" / "subject.json").exists()
    assert main([*args, "--shard", "3/2"]) == 1
    assert main([*args, "--presets", "sunny"]) == 1


@pytest.fixture
def data(scans: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    prepare(scans, out, TINY)
    return out


def _project(points: torch.Tensor, calib: torch.Tensor) -> torch.Tensor:
    """(3, N) points -> (N, 2) grid_sample coordinates under a (4, 4) calib."""
    return (calib[:2, :3] @ points + calib[:2, 3:]).T


def _mask_at(mask: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Max of the mask over a 3x3 neighbourhood at align_corners=True coordinates."""
    dilated = torch.nn.functional.max_pool2d(mask[None], 3, stride=1, padding=1)
    grid = uv[None, None].to(torch.float32)
    return torch.nn.functional.grid_sample(dilated, grid, align_corners=True)[0, 0, 0]


def test_dataset_items_consistent_under_augmentation(data: Path) -> None:
    names = list_subjects(data)
    assert names == ["anna", "ben"]
    points = PointConfig(count=600, surface_kinds=(0,), uniform_fraction=0.25)
    for augment in (AugmentConfig.none(), AugmentConfig(flip=1.0, scale=(0.8, 0.8), shift=0.1)):
        ds = OccupancyDataset(data, names, points=points, augment=augment, image_size=64)
        assert len(ds) == 8
        item = ds[1]
        assert item["image"].shape == (3, 64, 64) and item["points"].shape == (3, 600)
        assert item["image"].min() >= -1.0 and item["image"].max() <= 1.0
        labels = item["labels"][0]
        # balanced near-surface share: 225 of 450 inside; the uniform share mostly outside
        assert labels[150:].sum().item() == 225
        calib = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0]))
        uv = _project(item["points"], calib)
        on_mask = _mask_at(item["mask"], uv) > 0.5
        assert on_mask[labels > 0.5].float().mean() >= INSIDE_ON_MASK
        assert item["points"].abs().max() <= 1.0
        # the calib maps the stored subject points onto the item's points
        subject_points = np.load(data / "subjects" / item["subject"] / "samples.npz")["points"]
        cube = subject_points @ item["calib"][:3, :3].numpy().T + item["calib"][:3, 3].numpy()
        first = item["points"][:, 0].numpy()
        assert np.abs(cube - first).max(axis=1).min() < 1e-5
    flipped_normals = item["normal_front"]
    assert flipped_normals.shape == (3, 64, 64)


def test_on_mask_pixel_convention() -> None:
    mask = np.zeros((4, 4), dtype=np.float32)
    mask[0, 3] = 1.0  # top-right pixel: x in (0.5, 1), y in (0.5, 1)
    cube = np.array([[0.75, 0.75, 0.0], [-0.75, 0.75, 0.0], [0.75, -0.75, 0.0], [0.6, 0.9, 0.3]])
    assert on_mask(cube, mask).tolist() == [True, False, False, True]


def test_ray_share_of_the_uniform_points_lies_on_the_person(data: Path) -> None:
    augment = AugmentConfig(flip=1.0, scale=(0.9, 0.9), shift=0.1)
    shares, inside = [], []
    for ray in (0.0, 1.0):
        points = PointConfig(count=600, surface_kinds=(0,), uniform_fraction=0.5, ray_fraction=ray)
        item = OccupancyDataset(data, points=points, augment=augment, image_size=64)[3]
        uv = _project(item["points"][:, :300], torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0])))
        shares.append((_mask_at(item["mask"], uv) > 0.5).float().mean().item())
        inside.append(item["labels"][0, :300].mean().item())
    assert shares[1] == 1.0
    assert shares[0] < 0.5
    # the ray points keep their stored labels: inside more often than the cube's points
    assert 0.0 < inside[0] < inside[1] < 1.0


def test_dataset_fine_crops_and_flip_normals(data: Path) -> None:
    ds = OccupancyDataset(
        data,
        level="fine",
        points=PointConfig(count=200, surface_kinds=(1,)),
        augment=AugmentConfig.none(),
        image_size=64,
        crop_size=256,
    )
    item = ds[0]
    assert item["image_fine"].shape == (3, 256, 256)
    uv = _project(item["points"], item["fine_calib"])
    assert uv.abs().max() <= 1.0 + 1e-6
    x0, y0 = item["crop"].tolist()
    assert 0 <= x0 <= 1024 - 256 and 0 <= y0 <= 1024 - 256
    # inside points land on the person in the crop (the image there differs from the grey)
    inside = item["labels"][0] > 0.5
    grid = uv[inside][None, None].to(torch.float32)
    colour = torch.nn.functional.grid_sample(item["image_fine"][None], grid, align_corners=True)
    assert (colour[0, :, 0] - 0.0).abs().max(dim=0).values.gt(0.02).float().mean() > 0.95

    plain = OccupancyDataset(data, augment=AugmentConfig.none(), image_size=64)[0]
    flipped = OccupancyDataset(
        data,
        augment=replace(AugmentConfig.none(), flip=1.0),
        image_size=64,
    )[0]
    torch.testing.assert_close(flipped["mask"], plain["mask"].flip(-1), atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        flipped["normal_front"][0].numpy(), -plain["normal_front"][0].flip(-1).numpy(), atol=1e-5
    )


def test_split_is_stable() -> None:
    names = [f"s{i:03d}" for i in range(200)]
    train, val = split_subjects(names, 0.1, seed=0)
    assert 8 <= len(val) <= 35 and set(train) | set(val) == set(names)
    _, val2 = split_subjects([*names, "new"], 0.1, seed=0)
    assert set(val) <= set(val2)


def test_dataset_backgrounds_from_a_folder(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backgrounds"
    folder.mkdir()
    Image.new("RGB", (40, 30), (10, 200, 60)).save(folder / "green.png")
    augment = replace(AugmentConfig.none(), background=str(folder))
    item = OccupancyDataset(data, augment=augment, image_size=64)[0]
    off_body = item["mask"][0] == 0
    colour = (item["image"][:, off_body] + 1) / 2 * 255
    np.testing.assert_allclose(colour.mean(dim=1).numpy(), [10, 200, 60], atol=1.0)
    with pytest.raises(InputError, match="no background images"):
        OccupancyDataset(data, augment=replace(augment, background=str(tmp_path)), image_size=64)


def test_views_centred_in_depth_on_the_volume_centroid(tmp_path: Path) -> None:
    """An asymmetric subject (a ball beside the body) gets each view's z origin at its volume
    centroid, so where it lies in depth does not change with the yaw; depth maps agree."""
    from pifuhd.data.asset import pixel_centers, view_matrix
    from pifuhd.data.render import uint16_to_depth

    scans = tmp_path / "scans"
    scans.mkdir()
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.25)
    ball.apply_translation([0.5, 1.0, 0.0])
    body = capsule_person(1.7)
    body.apply_translation(-body.bounds.mean(axis=0) + [0.0, 0.85, 0.0])
    trimesh.util.concatenate([body, ball]).export(scans / "lean.ply")
    out = tmp_path / "data"
    prepare(scans, out, replace(TINY, views=4, size=64))
    subject = out / "subjects" / "lean"
    views = json.loads((subject / "views.json").read_text())["views"]
    samples = np.load(subject / "samples.npz")
    inside = samples["points"][samples["inside"]].astype(np.float64)
    centred, boxed = [], []
    for view in views:
        calib = np.asarray(view["calib"])
        cube = inside @ calib[:3, :3].T + calib[:3, 3]
        centred.append(cube[:, 2].mean())
        old = view_matrix(view["yaw"])
        boxed.append((inside @ old[:3, :3].T)[:, 2].mean())
        # inside points lie between the back and front depth maps at their pixel
        front = uint16_to_depth(np.asarray(Image.open(subject / "depth_front" / view["file"])))
        back = uint16_to_depth(np.asarray(Image.open(subject / "depth_back" / view["file"])))
        centres = pixel_centers(64)
        step = centres[1] - centres[0]
        col = np.clip(np.rint((cube[:, 0] - centres[0]) / step).astype(int), 0, 63)
        row = np.clip(np.rint((centres[-1] - cube[:, 1]) / step).astype(int), 0, 63)
        f, b = front[row, col], back[row, col]
        between = (cube[:, 2] <= f + step) & (cube[:, 2] >= b - step)
        assert between.mean() > 0.95
    # the ball moves the centroid about 6 cm off the box centre, in depth at yaw 90 / 270
    assert np.ptp(boxed) > 0.05
    assert np.abs(centred).max() < 0.005  # cube units: 0.5 cm
    # data of the old layout is refused with the fix in the message
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))
    with pytest.raises(InputError, match=r"manifest\.json: data format 1.*re-run `pifuhd prepare"):
        list_subjects(out)
