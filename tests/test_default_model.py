"""The bundled default model (``pifuhd/weights/default``) on the bundled sample photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from pifuhd.inference import Reconstructor
from pifuhd.weights import DEFAULT_MODEL_DIR, default_checkpoint

SAMPLE = Path(__file__).parents[1] / "examples" / "person.png"


def _person_rows(photo: np.ndarray) -> tuple[int, int]:
    """First and last image rows holding person pixels: pixels that differ from their row's
    background (the leftmost column; the sample's backdrop is a vertical gradient)."""
    diff = np.abs(photo - photo[:, :1]).max(axis=2)
    rows = np.flatnonzero((diff > 0.1).any(axis=1))
    return int(rows[0]), int(rows[-1])


def test_bundled_model_is_shipped_with_its_card() -> None:
    assert default_checkpoint() == DEFAULT_MODEL_DIR
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["format"] == "pifuhd"
    size_mb = (DEFAULT_MODEL_DIR / "model.safetensors").stat().st_size / 2**20
    assert size_mb < 60
    card = (DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert "Licence" in card and "Chamfer" in card


def test_bundled_model_reconstructs_the_sample_person() -> None:
    photo = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32) / 255.0
    top, bottom = _person_rows(photo)
    result = Reconstructor(default_checkpoint(), device="cpu", resolution=64)(SAMPLE)
    mesh = result.mesh
    assert mesh.is_watertight
    extent = np.ptp(mesh.vertices, axis=0)  # cube units: the crop spans 2
    crop = result.crop
    person_height = 2.0 * (bottom - top + 1) / crop.h
    assert abs(extent[1] - person_height) < 0.06 * person_height
    # a person, not a column: shallower than half its height, narrower than its height
    assert extent[2] < 0.5 * extent[1]
    assert extent[0] < extent[1]


def test_bundled_colour_model_follows_the_photo() -> None:
    """Front-facing vertices' predicted albedo against the photo pixel they project to (the
    pixel frame: x, y are photo pixels): each channel correlates (a constant or random colour
    would give about 0), and the mean error is bounded."""
    assert (DEFAULT_MODEL_DIR / "color" / "model.safetensors").is_file()
    assert "PATD" in (DEFAULT_MODEL_DIR / "color" / "MODEL_CARD.md").read_text()
    result = Reconstructor(default_checkpoint(), "cpu", 64, texture=True)(SAMPLE, frame="pixel")
    mesh = result.mesh
    colors = np.asarray(mesh.visual.vertex_colors)[:, :3] / 255.0
    photo = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32) / 255.0
    v = np.asarray(mesh.vertices)
    front = np.asarray(mesh.vertex_normals)[:, 2] > 0.5
    assert front.sum() > 200
    x = np.clip(np.rint(v[front, 0]).astype(int), 0, photo.shape[1] - 1)
    y = np.clip(np.rint(v[front, 1]).astype(int), 0, photo.shape[0] - 1)
    seen = photo[y, x]
    for k in range(3):
        assert np.corrcoef(seen[:, k], colors[front, k])[0, 1] > 0.4
    assert np.abs(seen - colors[front]).mean() < 0.2
