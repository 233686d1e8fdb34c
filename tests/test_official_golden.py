"""Our model against outputs recorded from the original release (PyPI ``pifu-hd`` 1.0.1).

``tools/make_official_goldens.py`` built the original networks from the tiny option
Namespaces of ``tests/official_fixture.py``, loaded deterministic seeded weights, ran the
original test-time path and saved every intermediate. Here the same Namespaces and weights
go through our official-checkpoint loader and our forward pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pifuhd.checkpoint import load_checkpoint
from pifuhd.config import NormalNetConfig
from tests.official_fixture import (
    GOLDEN_JSON,
    GOLDEN_SAFETENSORS,
    golden_inputs,
    seeded_state_dict,
    tiny_namespaces,
)

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def golden() -> dict[str, torch.Tensor]:
    return load_file(str(GOLDEN_SAFETENSORS))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    doc = json.loads(GOLDEN_JSON.read_text())
    shapes = {k: tuple(s) for k, s in doc["state_dict"]["keys_in_model_order"]}
    opt, opt_coarse = tiny_namespaces()
    state = seeded_state_dict(shapes)
    path: Path = tmp_path_factory.mktemp("official") / "tiny_pifuhd.pt"
    torch.save({"opt": opt, "opt_netG": opt_coarse, "model_state_dict": state}, path)
    loaded, _ = load_checkpoint(path)
    assert list(loaded.state_dict()) == list(shapes)  # the original's names, in its order
    return loaded


def test_inputs_are_reproduced(golden: dict[str, torch.Tensor]) -> None:
    for key, value in golden_inputs().items():
        assert torch.equal(value, golden[key]), key


def test_normal_net_sizes_read_from_shapes(model) -> None:
    expected = NormalNetConfig(base_channels=8, num_downsample=2, num_blocks=2)
    assert model.config.coarse.front_normal == expected
    assert model.config.coarse.back_normal == expected


@torch.no_grad()
def test_matches_original_release(model, golden: dict[str, torch.Tensor]) -> None:
    inputs = golden_inputs()
    features = model.encode(inputs["image_coarse"], inputs["image_fine"])
    coarse_pred, phi = model.netG.query(features.coarse, inputs["points"], inputs["calib"])
    _, fine_pred = model.query_levels(features, inputs["points"], inputs["calib"])
    ours = {
        "nml_front": features.normals[0],
        "nml_back": features.normals[1],
        "coarse_feat": features.coarse,
        "fine_feat": features.fine,
        "coarse_pred": coarse_pred,
        "coarse_phi": phi,
        "fine_pred": fine_pred,
    }
    for key, value in ours.items():
        assert value.shape == golden[key].shape, key
        error = (value - golden[key]).abs().max().item()
        assert error < TOLERANCE, f"{key}: max abs error {error:.2e}"
    inside = (golden["fine_pred"] > 0.5).float().mean().item()
    assert 0.2 < inside < 0.5  # the comparison covers both sides of the surface
