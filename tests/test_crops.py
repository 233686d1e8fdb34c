"""Crop rects from strings, files, OpenPose keypoints and masks; cropping; resolution order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pifuhd.errors import InputError
from pifuhd.io import crops
from pifuhd.io.crops import (
    CropRect,
    crop_image,
    parse_rect,
    read_rect_file,
    rect_from_keypoints,
    rect_from_mask,
    resolve_crop,
)
from pifuhd.io.images import LoadedImage, load_image
from pifuhd.io.person_mask import foreground_mask, mediapipe_mask, read_mask

FLOAT32 = 1e-6
"""Tolerance for float32 results of PIL resampling."""

MIN_IOU = 0.95
"""Required overlap of the no-model foreground mask with the synthetic truth."""


def _person(points: dict[int, tuple[float, float, float]]) -> dict[str, list[float]]:
    """One OpenPose person: BODY_25 keypoints given as {index: (x, y, confidence)}."""
    values = np.zeros((25, 3))
    for index, point in points.items():
        values[index] = point
    return {"pose_keypoints_2d": values.ravel().tolist()}


def _write_json(path: Path, people: list[dict[str, list[float]]]) -> Path:
    path.write_text(json.dumps({"version": 1.3, "people": people}))
    return path


# -- rect strings and files ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["10 20 30 40", "10,20,30,40", " 10, 20 ,30\t40\n"])
def test_parse_rect_accepts_spaces_and_commas(text: str) -> None:
    assert parse_rect(text) == CropRect(10, 20, 30, 40)


def test_parse_rect_allows_negative_corner() -> None:
    assert parse_rect("-5 -7 8 9").as_tuple() == (-5, -7, 8, 9)


@pytest.mark.parametrize("text", ["1 2 3", "a b c d", "1 2 3 4 5", "1.5 2 3 4", "1 2 0 5"])
def test_parse_rect_rejects_bad_text(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_rect(text, source="box.txt")
    assert str(info.value).startswith("box.txt: ")


def test_crop_rect_validates_fields() -> None:
    with pytest.raises(ValueError, match="w, h > 0"):
        CropRect(0, 0, 0, 5)
    with pytest.raises(TypeError, match="int"):
        CropRect(0.5, 0, 4, 4)  # type: ignore[arg-type]
    from_numpy = CropRect(*np.array([1, 2, 3, 4]))
    assert from_numpy == CropRect(1, 2, 3, 4) and type(from_numpy.x) is int


def test_read_rect_file_takes_first_line(tmp_path: Path) -> None:
    path = tmp_path / "p_rect.txt"
    path.write_text("# x y w h\n\n12 34 56 78\n1 2 3 4\n")
    assert read_rect_file(path) == CropRect(12, 34, 56, 78)
    path.write_text("\n")
    with pytest.raises(InputError, match=r"p_rect\.txt: rect file is empty"):
        read_rect_file(path)
    path.write_text("12 34 56\n")
    with pytest.raises(InputError, match=r"p_rect\.txt"):
        read_rect_file(path)
    with pytest.raises(InputError, match="no such rect file"):
        read_rect_file(tmp_path / "missing.txt")


# -- keypoints -------------------------------------------------------------------------------

FEET_VISIBLE = {
    0: (100.0, 50.0, 0.9),
    1: (101.0, 80.0, 0.9),
    3: (151.0, 140.0, 0.25),  # used for the box (confidence > 0.2)
    4: (20.0, 150.0, 0.15),  # ignored (confidence <= 0.2)
    8: (103.0, 200.0, 0.9),
    11: (110.0, 380.0, 0.9),  # right ankle confident -> box branch
    22: (120.0, 395.0, 0.3),
}
# box x 100..151, y 50..395 -> centre (125.5, 222.5) -> (125, 222); r = int(0.65 * 345) = 224
FEET_VISIBLE_RECT = CropRect(125 - 224, 222 - 224, 448, 448)

FEET_HIDDEN = {
    0: (200.6, 90.7, 0.9),  # 210 above the mid-hip
    1: (200.6, 150.7, 0.9),
    4: (260.6, 380.7, 0.8),  # 100 from the mid-hip
    8: (200.6, 300.7, 0.9),
    11: (200.6, 520.7, 0.4),  # not confident: no box branch, not in the radius
}
# centre (200, 300); r = int(1.45 * 210) = 304; centre y += int(0.05 * 304) = 15
FEET_HIDDEN_RECT = CropRect(200 - 304, 315 - 304, 608, 608)

UPPER_WITH_HIP = {1: (150.5, 100.9, 0.9), 0: (150.5, 40.0, 0.9), 8: (150.5, 253.9, 0.3)}
# r = int(0.8 * 153) = 122 around (150, 100)
UPPER_WITH_HIP_RECT = CropRect(150 - 122, 100 - 122, 244, 244)

UPPER_NO_HIP = {
    1: (300.0, 200.0, 0.9),
    0: (300.0, 150.0, 0.9),  # 50 / 0.4 = 125
    2: (239.0, 200.0, 0.9),  # 61 / 0.3 = 203.3 (largest)
    5: (370.0, 200.0, 0.15),  # ignored, would give 233.3
    8: (300.0, 400.0, 0.1),  # mid-hip too weak
}
# r = int(0.8 * 203.33) = 162 around (300, 200)
UPPER_NO_HIP_RECT = CropRect(300 - 162, 200 - 162, 324, 324)


@pytest.mark.parametrize(
    ("points", "mode", "expected"),
    [
        (FEET_VISIBLE, "fullbody", FEET_VISIBLE_RECT),
        (FEET_HIDDEN, "fullbody", FEET_HIDDEN_RECT),
        (UPPER_WITH_HIP, "upperbody", UPPER_WITH_HIP_RECT),
        (UPPER_NO_HIP, "upperbody", UPPER_NO_HIP_RECT),
    ],
)
def test_keypoint_rules_match_hand_computed_rects(
    tmp_path: Path, points: dict, mode: str, expected: CropRect
) -> None:
    path = _write_json(tmp_path / "k_keypoints.json", [_person(points)])
    assert rect_from_keypoints(path, mode=mode) == expected
    assert rect_from_keypoints({"people": [_person(points)]}, mode=mode) == expected


def test_keypoints_pick_tallest_confident_person() -> None:
    short = _person({1: (50.0, 100.0, 0.9), 8: (50.0, 200.0, 0.9)})
    tall_but_unsure = _person({1: (400.0, 0.0, 0.4), 8: (400.0, 900.0, 0.4)})
    tall = _person({1: (250.0, 100.0, 0.9), 8: (250.0, 400.0, 0.9)})
    data = {"people": [short, tall_but_unsure, tall]}
    # upperbody with hip: r = int(0.8 * 300) around the tall person's neck (250, 100)
    assert rect_from_keypoints(data, mode="upperbody") == CropRect(10, -140, 480, 480)


@pytest.mark.parametrize(
    "people",
    [[], [{"pose_keypoints_2d": []}], [_person({1: (5.0, 5.0, 0.3)})]],
)
def test_keypoints_without_person_raise(tmp_path: Path, people: list) -> None:
    path = _write_json(tmp_path / "nobody_keypoints.json", people)
    with pytest.raises(InputError, match=r"nobody_keypoints\.json: no person in keypoints JSON"):
        rect_from_keypoints(path)


def test_keypoints_bad_files(tmp_path: Path) -> None:
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"people": [{"pose_keypoints_2d": [0.0] * 54}]}))
    with pytest.raises(InputError, match="BODY_25"):
        rect_from_keypoints(coco)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match=r"broken\.json: not a readable OpenPose JSON"):
        rect_from_keypoints(broken)
    with pytest.raises(InputError, match="no such keypoints file"):
        rect_from_keypoints(tmp_path / "missing.json")
    no_hip = {"people": [_person({0: (5.0, 5.0, 0.9), 1: (5.0, 50.0, 0.9)})]}
    with pytest.raises(InputError, match="mid-hip"):
        rect_from_keypoints(no_hip, mode="fullbody")


# -- masks -----------------------------------------------------------------------------------


def test_rect_from_mask_known_rectangle() -> None:
    mask = np.zeros((200, 150), dtype=bool)
    mask[20:108, 40:80] = True  # 88 rows x 40 columns, centre (60, 64)
    assert rect_from_mask(mask) == CropRect(10, 14, 100, 100)
    with pytest.raises(InputError, match="mask is empty"):
        rect_from_mask(np.zeros((4, 4), dtype=bool))


def test_read_mask_gray_and_alpha(tmp_path: Path) -> None:
    gray = np.zeros((6, 5), dtype=np.uint8)
    gray[1:3, 2:4] = 255
    gray[4, 0] = 100  # below half: background
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert np.array_equal(read_mask(tmp_path / "g.png"), gray > 128)
    rgba = np.zeros((6, 5, 4), dtype=np.uint8)  # black colour, person only in alpha
    rgba[2:5, 1:3, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert np.array_equal(read_mask(tmp_path / "a.png"), rgba[..., 3] > 128)


def _blob_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(120, 100, 3) photo: an ellipse touching the bottom edge on a noisy flat background."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:120, 0:100]
    truth = ((xs - 50) / 22.0) ** 2 + ((ys - 75) / 48.0) ** 2 <= 1.0
    rgb = np.empty((120, 100, 3), dtype=np.float32)
    rgb[:] = [0.2, 0.6, 0.3]
    rgb[truth] = [0.8, 0.3, 0.5]
    rgb[70:76, 45:55] = [0.2, 0.6, 0.3]  # background-coloured patch inside: a hole to fill
    rgb[5:9, 5:9] = [0.9, 0.9, 0.1]  # small distractor: not the largest component
    rgb += rng.normal(0.0, 0.01, rgb.shape).astype(np.float32)
    return np.clip(rgb, 0.0, 1.0), truth


def test_foreground_mask_recovers_blob() -> None:
    rgb, truth = _blob_scene()
    mask = foreground_mask(rgb)
    assert mask.dtype == np.bool_ and mask.shape == truth.shape
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > MIN_IOU
    assert not mask[5:9, 5:9].any()


def test_mediapipe_mask_is_none_without_mediapipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "mediapipe", None)  # import raises
    assert mediapipe_mask(np.zeros((8, 8, 3), dtype=np.float32)) is None


# -- cropping --------------------------------------------------------------------------------


def test_crop_constant_image_stays_constant() -> None:
    rgb = np.full((50, 40, 3), 0.37, dtype=np.float32)
    out = crop_image(rgb, CropRect(5, 3, 30, 30), 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.37, atol=FLOAT32)


def test_crop_same_size_is_exact_and_pads_with_zeros() -> None:
    rgb = np.random.default_rng(3).random((20, 20, 3), dtype=np.float32) * 0.9 + 0.05
    out = crop_image(rgb, CropRect(10, -5, 20, 20), 20)
    assert np.array_equal(out[5:, :10], rgb[:15, 10:])
    assert np.all(out[:5] == 0.0) and np.all(out[:, 10:] == 0.0)


def test_crop_half_outside_with_resize_has_exact_zeros() -> None:
    rgb = np.ones((20, 20, 3), dtype=np.float32)
    out = crop_image(rgb, CropRect(10, 0, 20, 20), 10)
    # output column u looks at canvas columns within 2 of 2u + 1; canvas columns >= 10 are padding
    assert np.all(out[:, 6:] == 0.0)
    np.testing.assert_allclose(out[:, :4], 1.0, atol=FLOAT32)


def test_crop_fully_outside_and_gray_input() -> None:
    gray = np.ones((10, 10), dtype=np.float32)
    assert np.all(crop_image(gray, CropRect(50, 50, 8, 8), 4) == 0.0)
    assert crop_image(gray, CropRect(0, 0, 10, 10), 5).shape == (5, 5)


# -- resolution order ------------------------------------------------------------------------


def _scene(tmp_path: Path) -> tuple[Path, LoadedImage]:
    """A 60x80 RGBA photo with transparency plus all three side files, each a different rect."""
    rgba = np.zeros((80, 60, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[10:54, 20:40, 3] = 255  # alpha box: 44 rows -> side 50
    photo = tmp_path / "photo.png"
    Image.fromarray(rgba).save(photo)
    (tmp_path / "photo_rect.txt").write_text("1 2 3 4\n")
    _write_json(tmp_path / "photo_keypoints.json", [_person(UPPER_WITH_HIP)])
    side_mask = np.zeros((80, 60), dtype=np.uint8)
    side_mask[0:22, 0:10] = 255  # 22 rows -> side 25
    Image.fromarray(side_mask).save(tmp_path / "photo_mask.png")
    return photo, load_image(photo)


def test_resolve_crop_priority_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo, image = _scene(tmp_path)
    monkeypatch.setattr(crops, "mediapipe_mask", lambda rgb: None)
    explicit_kp = _write_json(tmp_path / "other.json", [_person(FEET_HIDDEN)])
    explicit_mask = np.zeros((80, 60), dtype=np.uint8)
    explicit_mask[40:62, 30:40] = 255
    Image.fromarray(explicit_mask).save(tmp_path / "other_mask.png")
    everything = {"keypoints": explicit_kp, "mask": tmp_path / "other_mask.png"}

    assert resolve_crop(photo, image, rect="7 8 9 10", **everything) == (
        CropRect(7, 8, 9, 10),
        "rect",
    )
    assert resolve_crop(photo, image, **everything) == (FEET_HIDDEN_RECT, "keypoints-fullbody")
    by_mask = resolve_crop(photo, image, mask=tmp_path / "other_mask.png")
    assert by_mask == (CropRect(23, 39, 25, 25), "mask")
    assert resolve_crop(photo, image) == (CropRect(1, 2, 3, 4), "rect-file")
    (tmp_path / "photo_rect.txt").unlink()
    assert resolve_crop(photo, image, keypoints_mode="upperbody") == (
        UPPER_WITH_HIP_RECT,
        "keypoints-upperbody",
    )
    (tmp_path / "photo_keypoints.json").unlink()
    assert resolve_crop(photo, image) == (CropRect(-7, -1, 25, 25), "mask")
    (tmp_path / "photo_mask.png").unlink()
    assert resolve_crop(photo, image) == (CropRect(5, 7, 50, 50), "alpha")
    assert resolve_crop(None, image) == (CropRect(5, 7, 50, 50), "alpha")


def test_resolve_crop_model_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, truth = _blob_scene()
    image = LoadedImage(rgb=rgb, alpha=None, source="<array>")
    monkeypatch.setattr(crops, "mediapipe_mask", lambda rgb: truth)
    assert resolve_crop(None, image) == (rect_from_mask(truth), "mediapipe")
    monkeypatch.setattr(crops, "mediapipe_mask", lambda rgb: None)
    rect, method = resolve_crop(None, image)
    assert method == "foreground"
    expected = rect_from_mask(truth)
    assert abs(rect.x - expected.x) <= 2 and abs(rect.w - expected.w) <= 3
    flat = LoadedImage(rgb=np.full((30, 30, 3), 0.5, np.float32), alpha=None, source="flat.png")
    with pytest.raises(InputError, match=r"flat\.png: cannot tell the person"):
        resolve_crop(None, flat)


def test_resolve_crop_mask_size_mismatch(tmp_path: Path) -> None:
    photo, image = _scene(tmp_path)
    Image.fromarray(np.full((10, 12), 255, dtype=np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(InputError, match=r"mask is 12x10 but the image .* is 60x80"):
        resolve_crop(photo, image, mask=tmp_path / "small.png")
