"""The vectorised OBJ writer: exact text on a small case, round trips through trimesh."""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh

from pifuhd.io.obj import _number_digits, encode_obj, format_fixed, write_obj


def _text(values: list[list[float]], decimals: int = 3) -> list[str]:
    rows = format_fixed(np.array(values), decimals)
    return [bytes(r[r != 0]).decode() for r in rows]


def test_fixed_point_formatting() -> None:
    assert _text([[0.0, -0.0, 1.5], [-12.3456, 0.0004, -0.0004]]) == [
        " 0.000 0.000 1.500",
        " -12.346 0.000 0.000",  # rounded to 3 decimals; no "-0.000"
    ]
    assert _text([[123456.25]], 1) == [" 123456.2"]  # half to even
    # 99.9996 rounds up to 100.000: past the word tables' integer parts, the same text
    assert _text([[99.9996, -99.9994, 0.0]]) == [" 100.000 -99.999 0.000"]
    assert _text([[2.5, -7.25, 0.4]], 0) == [" 2 -7 0"]  # no point without decimals


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
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], colors[:, :3])
    # written with 6 decimals
    np.testing.assert_allclose(loaded.vertex_normals, mesh.vertex_normals, atol=1e-5)


def test_non_finite_is_an_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        encode_obj(np.array([[0.0, np.nan, 0.0]]), np.zeros((0, 3), dtype=np.int64))


def test_threads_and_blocks_give_the_same_file() -> None:
    """Blocks formatted by several threads are written in order: the same bytes as one
    thread, for block sizes that do and do not divide the counts."""
    mesh = trimesh.creation.icosphere(2)  # 162 vertices, 320 faces
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 256, (len(mesh.vertices), 4), dtype=np.uint8)
    args = (mesh.vertices, mesh.faces, mesh.vertex_normals, colors)
    expected = io.BytesIO()
    write_obj(expected, *args, workers=1)
    for rows, workers in ((7, 3), (64, 2), (1000, 4)):
        got = io.BytesIO()
        write_obj(got, *args, rows=rows, workers=workers)
        assert got.getvalue() == expected.getvalue(), (rows, workers)
    assert expected.getvalue().count(b"\nf ") == 320


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, 4, 6, 7, 8, 9])
def test_table_and_digit_paths_agree_with_python(decimals: int) -> None:
    """The three digit paths (integer parts below 100: words; below 10^4: 4-digit tables;
    above: digit by digit) give Python's own fixed-point text at every number of decimals."""
    rng = np.random.default_rng(decimals)
    for magnitude in (1.0, 99.0, 9000.0, 123456.0):
        values = rng.uniform(-magnitude, magnitude, (50, 3))
        values = (np.floor(values * 10**decimals) + 0.25) / 10**decimals  # no ties, no -0
        expected = [" " + " ".join(f"{v:.{decimals}f}" for v in row) for row in values]
        assert _text(values.tolist(), decimals) == expected, (decimals, magnitude)


def test_face_index_digits_agree_with_python() -> None:
    """Face-corner numbers of any width up to 8 digits (two table words) and past it (digit
    by digit) are Python's decimal text."""
    values = np.array([1, 9, 10, 999, 1000, 9999, 10000, 10001, 123456, 99999999])
    for width, chosen in ((8, values), (9, np.append(values, 100000000))):
        digits = _number_digits(chosen, width)
        assert digits.shape == (len(chosen), width)
        assert [bytes(r[r != 0]).decode() for r in digits] == [str(v) for v in chosen]


@pytest.mark.parametrize("with_normals", [False, True])
def test_face_lines_of_uniform_and_mixed_widths(with_normals: bool) -> None:
    """Blocks whose vertex numbers all have one width (copied as fixed slices) and blocks
    that mix widths (padding removed byte by byte) give Python's text."""
    n_vertices = 12000
    rng = np.random.default_rng(3)
    uniform = rng.integers(1000, 9999, (40, 3))  # 4-digit numbers only (1-based 1001..9999)
    mixed = rng.integers(0, n_vertices, (40, 3))
    faces = np.concatenate([uniform, mixed, uniform[:5]])
    vertices = np.zeros((n_vertices, 3))
    normals = np.zeros((n_vertices, 3)) if with_normals else None
    out = io.BytesIO()
    write_obj(out, vertices, faces, normals, decimals=0, rows=8, workers=1)
    lines = [line for line in out.getvalue().decode().splitlines() if line.startswith("f")]
    token = "{0}//{0}" if with_normals else "{0}"
    assert lines == ["f " + " ".join(token.format(i + 1) for i in face) for face in faces]
