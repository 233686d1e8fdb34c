"""Weights read from a memory-mapped checkpoint are given back after use and read again the
same (``pifuhd.checkpoint.pages``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pifuhd.checkpoint.pages import release_file_pages
from pifuhd.inference import Reconstructor
from tests.conftest import PERSON
from tests.official_fixture import GOLDEN_JSON, seeded_state_dict, tiny_namespaces

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise: Linux")


@linux_only
def test_released_pages_read_back_the_same(tmp_path: Path) -> None:
    weights = torch.randn(1 << 18)  # 1 MB
    path = tmp_path / "w.pt"
    torch.save({"w": weights}, path)
    mapped = torch.load(path, mmap=True, weights_only=True)["w"]
    assert torch.equal(mapped, weights)  # pages now resident
    assert release_file_pages([mapped]) >= (1 << 20) - 2 * 4096
    assert torch.equal(mapped, weights)  # read again from the file
    assert release_file_pages([torch.randn(1 << 18)]) == 0  # anonymous memory is left alone


def test_reconstruction_repeats_with_released_encoder_weights(tmp_path: Path) -> None:
    """The normal nets and both encoders give back their mapped weights after each layer; a
    second photo (here the same one) reads them again and gets the same mesh."""
    doc = json.loads(GOLDEN_JSON.read_text())
    shapes = {k: tuple(s) for k, s in doc["state_dict"]["keys_in_model_order"]}
    opt, opt_coarse = tiny_namespaces()
    path = tmp_path / "tiny_pifuhd.pt"
    torch.save(
        {"opt": opt, "opt_netG": opt_coarse, "model_state_dict": seeded_state_dict(shapes)}, path
    )
    rec = Reconstructor(path, device="cpu", resolution=32, precision="fp32")
    first = rec(PERSON, rect="0 0 512 512").mesh
    second = rec(PERSON, rect="0 0 512 512").mesh
    assert len(first.vertices) > 0
    np.testing.assert_array_equal(first.vertices, second.vertices)
    np.testing.assert_array_equal(first.faces, second.faces)
