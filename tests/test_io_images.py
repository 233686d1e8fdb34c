"""Image loading, folder listing and PNG writing: values, orientation and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from pifuhd.errors import InputError
from pifuhd.io.images import LoadedImage, list_images, load_image, write_png

EXACT = 1e-7
"""Tolerance for float32 arithmetic on exactly representable inputs."""

FLOAT32 = 1e-6
"""Tolerance for float32 results of a few operations."""

JPEG_TOL = 0.1
"""Tolerance for colours after lossy JPEG compression of flat blocks."""


def _save(array: np.ndarray, path: Path, **kwargs: object) -> Path:
    Image.fromarray(array).save(path, **kwargs)
    return path


def test_rgba_array_half_alpha_composites_straight_alpha() -> None:
    pixels = np.array([[[1.0, 0.0, 0.2, 0.5], [0.3, 0.9, 0.1, 0.0]]], dtype=np.float32)
    loaded = load_image(pixels, background=0.5)
    assert isinstance(loaded, LoadedImage)
    assert loaded.source == "<array>"
    np.testing.assert_allclose(loaded.rgb[0, 0], [0.75, 0.25, 0.35], atol=EXACT)
    np.testing.assert_allclose(loaded.rgb[0, 1], [0.5, 0.5, 0.5], atol=EXACT)
    np.testing.assert_allclose(loaded.alpha, [[0.5, 0.0]], atol=EXACT)


def test_rgba_png_composite_matches_formula(tmp_path: Path) -> None:
    pixels = np.array([[[200, 40, 0, 128], [10, 20, 30, 0], [5, 6, 7, 255]]], dtype=np.uint8)
    loaded = load_image(_save(pixels, tmp_path / "a.png"), background=0.3)
    rgb, alpha = pixels[..., :3] / 255.0, pixels[..., 3:] / 255.0
    expected = rgb * alpha + 0.3 * (1.0 - alpha)
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.shape == (1, 3, 3)
    np.testing.assert_allclose(loaded.rgb, expected, atol=FLOAT32)
    np.testing.assert_allclose(loaded.rgb[0, 1], [0.3, 0.3, 0.3], atol=EXACT)
    np.testing.assert_allclose(loaded.alpha, alpha[..., 0], atol=FLOAT32)


def test_la_png_composites_and_has_equal_channels(tmp_path: Path) -> None:
    pixels = np.array([[[255, 255], [255, 0], [51, 255]]], dtype=np.uint8)
    loaded = load_image(_save(pixels, tmp_path / "la.png"), background=0.5)
    np.testing.assert_allclose(loaded.rgb[0, :, 0], [1.0, 0.5, 0.2], atol=FLOAT32)
    assert np.array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_palette_with_transparency_becomes_background(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1])
    image.info["transparency"] = 1
    path = tmp_path / "p.png"
    image.save(path, transparency=1)
    loaded = load_image(path, background=0.25)
    np.testing.assert_allclose(loaded.rgb[0, 0], [1.0, 0.0, 0.0], atol=EXACT)
    np.testing.assert_allclose(loaded.rgb[0, 1], [0.25, 0.25, 0.25], atol=EXACT)
    np.testing.assert_allclose(loaded.alpha, [[1.0, 0.0]], atol=EXACT)


def test_grayscale_gives_three_equal_channels_and_no_alpha(tmp_path: Path) -> None:
    pixels = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    loaded = load_image(_save(pixels, tmp_path / "g.png"))
    assert loaded.rgb.shape == (2, 2, 3) and loaded.alpha is None
    for c in range(3):
        np.testing.assert_allclose(loaded.rgb[..., c], [[0.0, 0.2], [0.4, 1.0]], atol=FLOAT32)


def test_16bit_png_scales_by_65535_without_wrapping(tmp_path: Path) -> None:
    pixels = np.array([[0, 32768, 65535]], dtype=np.uint16)
    loaded = load_image(_save(pixels, tmp_path / "deep.png"))
    np.testing.assert_allclose(loaded.rgb[0, :, 1], [0.0, 32768 / 65535, 1.0], atol=FLOAT32)
    assert loaded.rgb[0, 1, 0] == pytest.approx(0.5, abs=1e-4)


def test_mode_i_image_scaled_and_range_checked() -> None:
    image = Image.fromarray(np.array([[0, 65535]], dtype=np.int32))
    assert image.mode == "I"
    np.testing.assert_allclose(load_image(image).rgb[0, :, 0], [0.0, 1.0], atol=EXACT)
    with pytest.raises(InputError, match=r"0\.\.65535"):
        load_image(Image.fromarray(np.array([[0, 70000]], dtype=np.int32)))


def test_uint16_rgb_array_and_float_mode_f() -> None:
    deep = np.full((2, 2, 3), 65535, dtype=np.uint16)
    np.testing.assert_allclose(load_image(deep).rgb, 1.0, atol=EXACT)
    floats = Image.fromarray(np.full((3, 4), 0.25, dtype=np.float32))
    assert floats.mode == "F"
    np.testing.assert_allclose(load_image(floats).rgb, 0.25, atol=EXACT)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((2, 2, 3), 1.5, dtype=np.float32), "scale them to"),
        (np.full((2, 2), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((2, 2, 5), dtype=np.uint8), "expected"),
        (np.zeros((2, 2), dtype=np.int64), "unsupported pixel type"),
        (np.zeros((0, 4, 3), dtype=np.uint8), "zero size"),
    ],
)
def test_bad_arrays_raise_one_line_input_error(array: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        load_image(array)
    assert "\n" not in str(info.value) and "<array>" in str(info.value)


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[..., 2] = 255
    pixels[:16, :16] = [255, 0, 0]  # red marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise for display
    path = _save(pixels, tmp_path / "rot.jpg", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.rgb.shape == (64, 32, 3)
    np.testing.assert_allclose(loaded.rgb[8, 24], [1.0, 0.0, 0.0], atol=JPEG_TOL)
    np.testing.assert_allclose(loaded.rgb[8, 8], [0.0, 0.0, 1.0], atol=JPEG_TOL)
    np.testing.assert_allclose(loaded.rgb[56, 24], [0.0, 0.0, 1.0], atol=JPEG_TOL)


def test_webp_lossless_round_trip(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    loaded = load_image(_save(pixels, tmp_path / "x.webp", lossless=True))
    np.testing.assert_allclose(loaded.rgb, pixels / 255.0, atol=FLOAT32)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("lenient", [False, True])
def test_truncated_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, lenient: bool
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient)
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(pixels).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="photo") as info:
        load_image(path)
    assert "not a readable image" in str(info.value) and "\n" not in str(info.value)
    assert lenient == ImageFile.LOAD_TRUNCATED_IMAGES  # restored afterwards


def test_non_image_missing_folder_and_empty_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    with pytest.raises(InputError, match=r"notes\.png: not a recognised image"):
        load_image(text)
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jpg: empty file"):
        load_image(empty)


def test_zero_size_pil_image() -> None:
    with pytest.raises(InputError, match="zero size"):
        load_image(Image.new("RGB", (0, 5)))


def test_list_images_sorts_and_skips_side_files(tmp_path: Path) -> None:
    tiny = np.zeros((2, 2, 3), dtype=np.uint8)
    photos = ["a.jpg", "B.PNG", "c.webp", "d.JPEG"]
    side = ["a_mask.png", "a_rect.png", "a_keypoints.png", "a_normal_front.png"]
    side += ["a_normal_back.PNG"]
    for name in photos + side:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a_rect.txt").write_text("0 0 1 1")
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "sub.png").mkdir()
    assert list_images(tmp_path) == sorted(tmp_path / name for name in photos)
    single = _save(tiny, tmp_path / "a_mask.png")
    assert list_images(single) == [single]


def test_list_images_errors(tmp_path: Path) -> None:
    (tmp_path / "only_mask.png").write_bytes(b"x")
    with pytest.raises(InputError, match=r"no images \(.jpg, .jpeg, .png, .webp\) found"):
        list_images(tmp_path)
    with pytest.raises(InputError, match="no such file or folder"):
        list_images(tmp_path / "nope")


def test_write_png_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    exact = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    target = tmp_path / "out" / "x.png"
    write_png(target, exact)
    assert np.array_equal(np.asarray(Image.open(target)), exact)
    floats = np.array([[0.0, 0.5, 1.0, 1.2]], dtype=np.float32)
    write_png(target, floats)  # overwrite in place
    assert np.asarray(Image.open(target)).tolist() == [[0, 128, 255, 255]]
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]


def test_write_png_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected"):
        write_png(tmp_path / "bad.png", np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="expected"):
        write_png(tmp_path / "bad.png", np.zeros((2, 2), dtype=np.int32))
    assert list(tmp_path.iterdir()) == []
