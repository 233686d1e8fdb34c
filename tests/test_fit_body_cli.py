"""``pifuhd fit-body``: bodies fitted to renders of a synthetic person, written in the frame
``pifuhd reconstruct`` writes its mesh in, with the failures and warnings the issue asks for.

Needs MediaPipe and Anny (``anny_cache`` fixture). Five real fits in all (about 3 s each on
one core).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from scipy import ndimage

from pifuhd.cli import main
from pifuhd.fit_outputs import mesh_in_frame
from pifuhd.io.crops import CropRect, cube_to_pixel_matrix, given_crop
from pifuhd.io.images import load_image
from pifuhd.io.person_mask import foreground_mask

SAMPLE = Path(__file__).parents[1] / "examples" / "person.png"
SIZE = 512
"""Side of the test photo (the sample render downscaled)."""

MASK_SLACK_PX = 6
"""Dilation of the true person mask: clothes and MediaPipe's landmarks are a few pixels off
the naked body."""

ON_MASK = 0.9
"""Smallest fraction of body vertices that must project onto the (dilated) person mask."""

DRAWN = 0.5
"""Smallest fraction of the person's pixels the overlay must change."""

ROUNDING = 0.5e-6
"""The JSON's coordinates are rounded to 6 decimals."""

CUT_ROW = 300
"""Rows kept of the photo for a person cut by the border (the legs from mid-thigh down)."""

RECT = (0, -150, 512, 512)
"""A square crop holding the cut person off-centre, far from the one MediaPipe's mask gives
(about (87, -20, 341, 341)): vertices in the wrong cube would miss the person."""


@pytest.fixture
def fitter(anny_cache: None) -> None:
    """MediaPipe and Anny (with its cache) for the tests that fit."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("anny")


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """(512, 512, 3) float32 render of the sample synthetic person on a grey gradient."""
    image = Image.open(SAMPLE).convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, np.float32) / 255.0


def save(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(to_uint8(rgb)).save(path)
    return path


def two_people(rgb: np.ndarray) -> np.ndarray:
    """(S, 2S, 3): the photo on the left, a mirrored copy at 3/4 size on the right standing
    on the same floor line, pasted through the person's background mask."""
    side = rgb.shape[0]
    small = 3 * side // 4
    mask = foreground_mask(rgb)
    person = np.asarray(Image.fromarray(to_uint8(rgb)).resize((small, small)), np.float32) / 255
    person_mask = np.asarray(Image.fromarray(mask).resize((small, small), Image.Resampling.NEAREST))
    right = np.repeat(rgb[:, :1], side, axis=1)  # the vertical background gradient
    x0 = (side - small) // 2
    tile = right[side - small :, x0 : x0 + small]
    tile[person_mask[:, ::-1]] = person[:, ::-1][person_mask[:, ::-1]]
    return np.concatenate([rgb, right], axis=1)


def load_body(out: Path, name: str) -> tuple[trimesh.Trimesh, dict]:
    mesh = trimesh.load(out / f"{name}.obj", process=False)
    return mesh, json.loads((out / f"{name}.json").read_text())


def on_mask_fraction(xy: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of (N, 2) pixel positions (x right, y down) on an (H, W) bool mask (outside
    the image counts as off)."""
    cols, rows = np.floor(xy).astype(int).T
    inside = (cols >= 0) & (cols < mask.shape[1]) & (rows >= 0) & (rows < mask.shape[0])
    hit = np.zeros(len(xy), bool)
    hit[inside] = mask[rows[inside], cols[inside]]
    return float(hit.mean())


def slack_mask(rgb: np.ndarray) -> np.ndarray:
    return ndimage.binary_dilation(foreground_mask(rgb), iterations=MASK_SLACK_PX)


def test_fit_body_writes_pixel_frame_files_and_skips_a_photo_without_anyone(
    tmp_path: Path, photo: np.ndarray, fitter: None, capsys: pytest.CaptureFixture
) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    save(folder / "person.png", photo)
    noise = np.random.default_rng(0).random((256, 256, 3), dtype=np.float32)
    blank = save(folder / "blank.png", noise)

    code = main(["fit-body", str(folder), "-o", str(out), "--frame", "pixel"])

    assert code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"error: {blank}: no person found; use a photo with a person in view"]
    assert sorted(p.name for p in out.iterdir()) == [
        "person_body.json",
        "person_body.obj",
        "person_body_overlay.png",
    ]
    mesh, doc = load_body(out, "person_body")
    assert doc["frame"] == "pixel" and doc["crop_method"] == "mediapipe-person"
    assert doc["warnings"] == [] and doc["people_found"] == 1
    assert len(mesh.vertices) == doc["vertices"] and mesh.volume > 0  # faces outward
    on_mask = on_mask_fraction(mesh.vertices[:, :2], slack_mask(photo))
    assert on_mask > ON_MASK, on_mask
    matrix = cube_to_pixel_matrix(CropRect(*doc["crop"]), 1024)
    for name, cube in doc["joints_cube"].items():
        expected = matrix[:3, :3] @ np.array(cube) + matrix[:3, 3]
        atol = ROUNDING * (1.0 + matrix[0, 0]) * 1.01  # rounding of both, the cube's scaled
        np.testing.assert_allclose(doc["joints"][name], expected, rtol=0, atol=atol)
    overlay = np.asarray(Image.open(out / "person_body_overlay.png").convert("RGB"))
    assert overlay.shape == (SIZE, SIZE, 3)
    assert (overlay[:8, :8] == to_uint8(photo)[:8, :8]).all()  # the corner is untouched
    changed = np.abs(overlay.astype(int) - to_uint8(photo)).sum(axis=2) > 0
    person = slack_mask(photo)
    assert changed[person].mean() > DRAWN  # the naked body under clothes and hair
    assert changed[person].sum() / changed.sum() > ON_MASK  # and nothing much beside it


def test_fit_body_honours_rect_and_warns_about_a_person_cut_by_the_border(
    tmp_path: Path, photo: np.ndarray, fitter: None
) -> None:
    cut = save(tmp_path / "cut.png", photo[:CUT_ROW])
    rect = " ".join(str(v) for v in RECT)

    assert main(["fit-body", str(cut), "-o", str(tmp_path / "out"), "--rect", rect]) == 0

    mesh, doc = load_body(tmp_path / "out", "cut_body")
    assert doc["crop"] == list(RECT) and doc["crop_method"] == "rect" and doc["frame"] == "cube"
    assert any("cut by the image border" in w for w in doc["warnings"])
    cube = np.asarray(mesh.vertices)
    matrix = cube_to_pixel_matrix(CropRect(*RECT), 1024)
    pixels = cube @ matrix[:3, :3].T + matrix[:3, 3]
    in_image = pixels[:, 1] < CUT_ROW  # the legs below the border are a guess
    assert (np.abs(cube[in_image, :2]) <= 1.0).all()  # inside the rect
    on_mask = on_mask_fraction(pixels[in_image, :2], slack_mask(photo[:CUT_ROW]))
    assert on_mask > ON_MASK, on_mask


def test_fit_body_fits_the_largest_of_two_people_or_each(
    tmp_path: Path, photo: np.ndarray, fitter: None
) -> None:
    image = save(tmp_path / "two.png", two_people(photo))

    assert main(["fit-body", str(image), "-o", str(tmp_path / "one"), "--frame", "pixel"]) == 0
    assert main(["fit-body", str(image), "-o", str(tmp_path / "all"), "--all-people"]) == 0

    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "two_body.json",
        "two_body.obj",
        "two_body_overlay.png",
    ]
    mesh, doc = load_body(tmp_path / "one", "two_body")
    assert doc["people_found"] == 2
    assert any(w.startswith("2 people found") for w in doc["warnings"])
    assert mesh.vertices[:, 0].max() < SIZE  # the larger person, on the left
    names = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert names == [
        f"two_person{k}_body{s}" for k in (0, 1) for s in (".json", ".obj", "_overlay.png")
    ]
    heights, centres = [], []
    for k in (0, 1):
        mesh, doc = load_body(tmp_path / "all", f"two_person{k}_body")
        assert doc["person"] == k and not any("people found" in w for w in doc["warnings"])
        pixels = mesh.vertices @ cube_to_pixel_matrix(CropRect(*doc["crop"]), 1024)[:3, :3].T
        pixels += cube_to_pixel_matrix(CropRect(*doc["crop"]), 1024)[:3, 3]
        heights.append(np.ptp(pixels[:, 1]))
        centres.append(np.median(pixels[:, 0]))
    assert centres[0] < SIZE < centres[1]
    assert heights[0] > heights[1]


@pytest.mark.parametrize("mirror", [False, True])
def test_mesh_in_frame_keeps_faces_outward(mirror: bool) -> None:
    box = trimesh.creation.box(extents=(0.2, 0.4, 0.6))
    matrix = cube_to_pixel_matrix(CropRect(10, 20, 300, 300), 1024)
    if mirror:
        matrix = matrix @ np.diag([-1.0, 1.0, 1.0, 1.0])
    vertices, faces = mesh_in_frame(box.vertices, box.faces, matrix)
    mapped = trimesh.Trimesh(vertices, faces, process=False)
    scale = 300 * 1023 / 2048  # pixels per cube unit
    assert mapped.volume == pytest.approx(scale**3 * box.volume, rel=1e-9)
    np.testing.assert_allclose(vertices[0], matrix[:3, :3] @ box.vertices[0] + matrix[:3, 3])


def test_explicit_crop_sources_are_those_reconstruct_prefers(tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(image)
    loaded = load_image(image)
    assert given_crop(image, loaded) is None
    assert given_crop(image, loaded, rect="1 2 6 6") == (CropRect(1, 2, 6, 6), "rect")
    (tmp_path / "photo_rect.txt").write_text("0 0 8 8\n")
    assert given_crop(image, loaded) == (CropRect(0, 0, 8, 8), "rect-file")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:6, 2:6] = 255
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    cutout = given_crop(tmp_path / "cutout.png", load_image(tmp_path / "cutout.png"))
    assert cutout is not None and cutout[1] == "alpha"
