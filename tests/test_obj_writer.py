"""The vectorised OBJ writer: exact text on a small case, round trips through trimesh."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from pifuhd.io.obj import encode_obj, format_fixed


def _text(values: list[list[float]], decimals: int = 3) -> list[str]:
    rows = format_fixed(np.array(values), decimals)
    return [bytes(r[r != 0]).decode() for r in rows]


def test_fixed_point_formatting() -> None:
    assert _text([[0.0, -0.0, 1.5], [-12.3456, 0.0004, -0.0004]]) == [
        " 0.000 0.000 1.500",
        " -12.346 0.000 0.000",  # rounded to 3 decimals; no "-0.000"
    ]
    assert _text([[123456.25]], 1) == [" 123456.2"]  # half to even


def test_exact_small_file() -> None:
    text = encode_obj(
        np.array([[0.0, 1.0, -0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
        np.array([[0, 1, 2]]),
        normals=np.array([[0.0, 0.0, 1.0]] * 3),
        colors=np.array([[255, 0, 51, 255]] * 3, dtype=np.uint8),
        decimals=2,
    ).decode()
    assert text.splitlines() == [
        "# pifuhd",
        "v 0.00 1.00 -0.50 1.00 0.00 0.20",
        "v 1.00 0.00 0.00 1.00 0.00 0.20",
        "v 0.00 0.00 1.00 1.00 0.00 0.20",
        "vn 0.00 0.00 1.00",
        "vn 0.00 0.00 1.00",
        "vn 0.00 0.00 1.00",
        "f 1//1 2//2 3//3",
    ]
    plain = encode_obj(np.zeros((3, 3)), np.array([[0, 1, 2]]), decimals=0).decode()
    assert plain.splitlines()[-1] == "f 1 2 3"


@pytest.mark.parametrize("scale", [1.0, 4000.0])
def test_round_trip_through_trimesh(tmp_path, scale: float) -> None:
    mesh = trimesh.creation.icosphere(3)
    mesh.apply_scale(scale)
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (len(mesh.vertices), 4), dtype=np.uint8)
    path = tmp_path / "m.obj"
    path.write_bytes(encode_obj(mesh.vertices, mesh.faces, mesh.vertex_normals, colors))
    loaded = trimesh.load(path, process=False, force="mesh")
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, rtol=0, atol=1e-8 * scale)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], colors[:, :3])
    np.testing.assert_allclose(loaded.vertex_normals, mesh.vertex_normals, atol=1e-6)


def test_non_finite_is_an_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        encode_obj(np.array([[0.0, np.nan, 0.0]]), np.zeros((0, 3), dtype=np.int64))
