"""The pipeline's guards against walls and blobs: carving, the cube border, fragments, the
background, crops outside the photo, several people, and the per-checkpoint settings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from pifuhd.checkpoint import save_native
from pifuhd.checkpoint.synthetic import give_surface, random_model
from pifuhd.errors import CheckpointError, InputError
from pifuhd.geometry.body_depth import body_depth_range
from pifuhd.geometry.carving import (
    SOFT,
    allowed_points,
    allowed_points_torch,
    allowed_region,
    carved_query,
    depth_cap,
    depth_cap_torch,
    depth_range,
)
from pifuhd.geometry.fragments import drop_fragments
from pifuhd.inference import Reconstructor, default_settings
from pifuhd.inference_settings import NATIVE_SETTINGS, OFFICIAL_SETTINGS, InferenceSettings
from pifuhd.io.composite import band_colour, network_photo
from pifuhd.io.crops import CropRect
from pifuhd.io.images import load_image
from pifuhd.io.people import find_people
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.outputs import reconstruct_files
from tests.conftest import PERSON, tiny_config


def test_allowed_region_dilates_and_never_reaches_beyond_the_photo() -> None:
    mask = np.zeros((100, 100), dtype=bool)
    mask[40:60, 45:55] = True
    crop = CropRect(-50, 0, 200, 200)  # the left quarter and the bottom half lie beyond
    tight = allowed_region(mask, crop, (100, 100), margin=0.0, size=100)
    assert tight.sum() == 10 * 5  # 20 x 10 pixels at half scale
    wide = allowed_region(mask, crop, (100, 100), margin=0.05, size=100)
    assert wide.sum() > tight.sum() and (wide | tight).sum() == wide.sum()
    whole = allowed_region(None, crop, (100, 100), margin=0.05, size=100)
    assert whole[:, :25].sum() == 0 and whole[50:].sum() == 0  # beyond the photo
    assert whole[:50, 25:75].all()


def test_carving_skips_points_outside_and_near_the_border() -> None:
    allowed = np.zeros((4, 4), dtype=bool)
    allowed[0, 3] = True  # the top-right quarter-square: x in [0.5, 1), y in (0.5, 1]
    points = np.array(
        [[0.7, 0.7, 0.0], [0.7, 0.7, 0.99], [-0.7, 0.7, 0.0], [0.7, -0.7, 0.0], [0.6, 0.9, -0.5]],
        dtype=np.float32,
    )
    expected = np.array([True, False, False, False, True])
    bounds = depth_range(allowed)
    np.testing.assert_array_equal(allowed_points(points, bounds, border=0.02), expected)
    on_torch = allowed_points_torch(torch.from_numpy(points), torch.from_numpy(bounds), 0.02)
    np.testing.assert_array_equal(on_torch.numpy(), expected)
    asked = []

    def query(p: np.ndarray) -> np.ndarray:
        asked.append(len(p))
        return np.full(len(p), 0.9, dtype=np.float32)

    values = carved_query(query, bounds, 0.02)(points)
    np.testing.assert_allclose(values, np.where(expected, 0.9, 0.0))
    assert asked == [2]  # the network saw only the allowed points


@pytest.fixture(scope="module")
def full_model() -> PIFuHD:
    """A tiny model whose field is inside almost everywhere: without guards its surface
    fills the cube up to the border."""
    net = random_model(tiny_config(), seed=0)
    image = load_image(PERSON)
    rec = Reconstructor(net, device="cpu", precision="fp32")
    person = find_people(PERSON, image)[0]
    give_surface(net, rec.encode(image, person.crop, person.mask), quantile=0.98)
    return net


@pytest.mark.parametrize("on_device", [False, True])
def test_no_surface_touches_the_cube_border(full_model: PIFuHD, on_device: bool) -> None:
    resolution = 32
    voxel = 2.0 / resolution
    guarded = Reconstructor(full_model, device="cpu", resolution=resolution, on_device=on_device)
    mesh = guarded(PERSON).mesh
    assert len(mesh.faces) > 100
    assert np.abs(mesh.vertices).max() <= 1.0 - NATIVE_SETTINGS.border + voxel
    loose = InferenceSettings(carve=False)
    bare = Reconstructor(full_model, device="cpu", resolution=resolution, settings=loose)
    assert np.abs(bare(PERSON).mesh.vertices).max() >= 1.0 - voxel  # the guard is what stops it


def test_carving_keeps_the_mesh_inside_the_dilated_mask(full_model: PIFuHD) -> None:
    rec = Reconstructor(full_model, device="cpu", resolution=48)
    result = rec(PERSON)
    image = load_image(PERSON)
    person = find_people(PERSON, image)[0]
    allowed = depth_range(
        allowed_region(person.mask, person.crop, (image.height, image.width), 0.01)
    )
    verts = result.mesh.vertices
    voxel = 2.0 / 48
    # every vertex lies on a grid edge with at least one allowed end: within a voxel of one
    inside = np.zeros(len(verts), dtype=bool)
    for dx in (-voxel, 0.0, voxel):
        for dy in (-voxel, 0.0, voxel):
            inside |= allowed_points(verts + np.array([dx, dy, 0.0]), allowed, 0.0)
    assert inside.all()
    assert result.mask_method is not None and result.info()["settings"]["carve"] is True


def _sphere(centre: tuple[float, float, float], radius: float, level: int) -> trimesh.Trimesh:
    """A closed sphere of 20 * 4^level faces."""
    return trimesh.creation.icosphere(subdivisions=level, radius=radius).apply_translation(centre)


def test_fragments_far_and_small_are_dropped_near_or_large_kept() -> None:
    body = _sphere((0, 0, 0), 0.5, 3)  # 1280 faces
    far_blob = _sphere((0.9, 0.0, 0.0), 0.05, 1)  # 80 faces, 0.35 from the body's surface
    near_hand = _sphere((0.0, 0.53, 0.0), 0.02, 1)  # 0.01 from it
    twin = _sphere((-0.9, 0.9, 0.0), 0.3, 3)  # far but as many faces as the body
    mesh = trimesh.util.concatenate([body, far_blob, near_hand, twin])
    kept, dropped = drop_fragments(mesh, share=0.2, gap=0.03)
    assert dropped == 1
    assert len(kept.faces) == len(mesh.faces) - len(far_blob.faces)
    assert kept.is_watertight and kept.vertices[:, 0].max() < 0.8  # the blob at x = 0.9 went
    everything, none = drop_fragments(mesh, share=0.0, gap=0.03)
    assert none == 0 and len(everything.faces) == len(mesh.faces)


def test_background_fill_and_keep() -> None:
    rgb = np.zeros((20, 20, 3), dtype=np.float32)
    rgb[:, :] = (0.1, 0.2, 0.3)
    rgb[5:15, 5:15] = (0.9, 0.8, 0.7)
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:15, 5:15] = True
    filled, beyond = network_photo(rgb, mask, "fill", (0.5, 0.5, 0.5))
    np.testing.assert_allclose(filled[0, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(filled[10, 10], (0.9, 0.8, 0.7), atol=1e-3)
    np.testing.assert_allclose(beyond, 0.5)
    kept, beyond = network_photo(rgb, mask, "keep", (0.5, 0.5, 0.5))
    assert kept is rgb
    np.testing.assert_allclose(beyond, (0.1, 0.2, 0.3), atol=1e-6)
    np.testing.assert_allclose(band_colour(rgb), (0.1, 0.2, 0.3), atol=1e-6)


def test_network_images_beyond_the_photo_are_background(full_model: PIFuHD) -> None:
    image = load_image(PERSON)
    rec = Reconstructor(full_model, device="cpu")
    crop = CropRect(-image.width, 0, 2 * image.width, 2 * image.width)  # left half beyond
    coarse, _ = rec.network_images(image, crop, None)
    left = coarse[0, :, 4:-4, 4 : coarse.shape[-1] // 2 - 4]
    torch.testing.assert_close(left, torch.zeros_like(left))  # fill 0.5 -> 0 in [-1, 1]


def test_rect_outside_the_photo_is_an_error(tmp_path: Path) -> None:
    image = load_image(PERSON)
    with pytest.raises(InputError, match="lies outside"):
        find_people(PERSON, image, rect=f"{image.width + 10} 0 100 100")
    person = find_people(PERSON, image, rect=f"-50 -50 {image.width} {image.height}")[0]
    assert person.crop.x == -50


def test_a_given_crop_skips_detection_when_nothing_reads_the_person(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Official settings without guards (photo kept, no carving) read no mask or landmarks:
    with a given crop, MediaPipe is not run (about a second of the original-layout run)."""
    import pifuhd.io.people as people

    image = load_image(PERSON)
    monkeypatch.setattr(people, "_detected", lambda *a: pytest.fail("detection ran"))
    person = find_people(PERSON, image, rect="0 0 100 100", detect=False)[0]
    assert person.mask is None and person.crop.w == 100
    bare = Reconstructor.__new__(Reconstructor)
    bare.settings, bare.body_guided = replace(OFFICIAL_SETTINGS, carve=False), False
    bare.body_normals = False
    assert not bare.reads_person
    for needs in (OFFICIAL_SETTINGS, replace(OFFICIAL_SETTINGS, carve=False, background="fill")):
        bare.settings = needs
        assert bare.reads_person
    bare.settings, bare.body_guided = replace(OFFICIAL_SETTINGS, carve=False), True
    assert bare.reads_person
    bare.body_guided, bare.body_normals = False, True  # normal nets that read the body
    assert bare.reads_person


def test_several_people_one_mesh_each_or_the_largest_with_a_warning(
    full_model: PIFuHD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = load_image(PERSON)
    h, w = image.height, image.width
    people = []
    for x0, x1 in ((w // 10, w // 2), (w // 2 + 5, w // 2 + w // 5)):  # largest first
        mask = np.zeros((h, w), dtype=np.float32)
        mask[h // 8 : 7 * h // 8, x0:x1] = 1.0
        people.append(type("P", (), {"mask": mask})())
    monkeypatch.setattr("pifuhd.io.people.detect_people", lambda rgb, max_people=4: people)
    rec = Reconstructor(full_model, device="cpu", resolution=24)
    one = reconstruct_files(rec, [PERSON], tmp_path / "one")
    assert one[0].ok and one[0].outputs[0].name == "person.obj"
    info = json.loads((tmp_path / "one" / "person.json").read_text())
    assert info["people_found"] == 2 and "2 people found" in info["warnings"][0]
    each = reconstruct_files(rec, [PERSON], tmp_path / "each", all_people=True)
    names = sorted(p.name for p in each[0].outputs if p.suffix == ".obj")
    assert names == ["person_person0.obj", "person_person1.obj"]
    widths = [
        np.ptp(trimesh.load(tmp_path / "each" / n, process=False).vertices[:, 0]) for n in names
    ]
    assert widths[0] > widths[1]  # each mesh is its own person's crop and mask


def test_settings_recorded_per_checkpoint(tmp_path: Path) -> None:
    net = random_model(tiny_config(), seed=0)
    folder = save_native(net, tmp_path / "ckpt")
    assert default_settings(folder) == NATIVE_SETTINGS
    doc = json.loads((folder / "config.json").read_text())
    doc["inference"] = {"background": "keep", "carve": False}
    (folder / "config.json").write_text(json.dumps(doc))
    settings = default_settings(folder)
    assert settings.background == "keep" and settings.carve is False
    assert settings.fragment_share == NATIVE_SETTINGS.fragment_share
    doc["inference"] = {"background": "walls"}
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="background"):
        default_settings(folder)
    assert default_settings(tmp_path / "pifuhd.pt") == OFFICIAL_SETTINGS
    assert OFFICIAL_SETTINGS.background == "keep" and OFFICIAL_SETTINGS.resize == "bilinear"
    with pytest.raises(InputError, match="carve_margin"):
        NATIVE_SETTINGS.with_overrides(carve_margin=2.0)
    assert NATIVE_SETTINGS.refine == 0 and OFFICIAL_SETTINGS.refine == 0  # refinement: opt-in
    assert NATIVE_SETTINGS.with_overrides(refine=25).refine == 25
    with pytest.raises(InputError, match="refine must be 0-1000"):
        NATIVE_SETTINGS.with_overrides(refine=-1)


def test_body_depth_range_bounds_a_box_body() -> None:
    box = trimesh.creation.box(extents=(0.4, 1.0, 0.2))  # z in [-0.1, 0.1]
    rng = body_depth_range(np.asarray(box.vertices), np.asarray(box.faces), 64, 0.05, 0.5)
    centre = rng[:, 32, 32]
    np.testing.assert_allclose(centre, (-0.15, 0.15), atol=0.01)  # the box +- the margin
    beside = rng[:, 32, 32 + 16]  # x = 0.5: 0.3 beyond the box's side
    width = beside[1] - beside[0]
    np.testing.assert_allclose(width, 0.2 + 2 * 0.05 + 2 * 0.5 * 0.3, atol=0.05)
    nothing = body_depth_range(np.asarray(box.vertices) + 5.0, np.asarray(box.faces), 64, 0.05, 0.5)
    assert np.isneginf(nothing[0]).all() and np.isposinf(nothing[1]).all()


def test_depth_cap_crosses_one_half_at_the_bound() -> None:
    bounds = np.stack([np.full((4, 4), -0.2), np.full((4, 4), 0.3)]).astype(np.float32)
    z = np.array([0.0, 0.3, -0.2, 0.3 + SOFT, 0.5, -0.2 - 2 * SOFT], dtype=np.float32)
    points = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
    np.testing.assert_allclose(depth_cap(points, bounds), [1.0, 0.5, 0.5, 0.0, 0.0, 0.0], atol=1e-6)
    on_torch = depth_cap_torch(torch.from_numpy(points), torch.from_numpy(bounds))
    np.testing.assert_allclose(on_torch.numpy(), depth_cap(points, bounds), atol=1e-6)
    allowed = depth_range(np.ones((4, 4), dtype=bool), bounds)
    keep = allowed_points(points, allowed, border=0.0)
    np.testing.assert_array_equal(keep, [True, True, True, True, False, False])


def test_body_prefetch_hands_its_error_to_the_waiting_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pifuhd import guards
    from pifuhd.body import anny

    def missing(cache_dir: object = None) -> None:
        raise anny.AnnyMissingError("anny is not installed")

    monkeypatch.setattr(guards, "_PREFETCH", {})
    monkeypatch.setattr(anny, "load_anny", missing)
    guards.prefetch_body_model()
    with pytest.raises(anny.AnnyMissingError, match="not installed"):
        guards.wait_for_body_model()
    guards.wait_for_body_model()  # raised once, then nothing is pending
