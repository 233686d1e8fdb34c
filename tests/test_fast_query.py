"""The fast occupancy query against the plain one: same function, less work (issue 5).

fp32: occupancies equal to ``PIFuHD.query`` within OCC_ATOL_FP32 on the official layout (the
tiny official-format fixture, loaded through the official loader), the test-size model and the
``small`` preset. bf16: occupancy within OCC_ATOL_BF16 where the field is smooth, and the
mesh of a model with a surface within CHAMFER_BF16_VOX of the fp32 plain mesh.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.synthetic import give_surface, random_model
from pifuhd.config import preset
from pifuhd.geometry.grid import grid_axis
from pifuhd.geometry.projection import default_calib
from pifuhd.inference import Reconstructor
from pifuhd.inference_settings import InferenceSettings
from pifuhd.io.crops import resolve_crop
from pifuhd.io.images import load_image
from pifuhd.models.fast_query import FastQuery
from pifuhd.models.pifuhd import PIFuHD
from pifuhd.models.ray_terms import bilinear_rows, ray_columns, ray_segments
from tests.conftest import PERSON, random_images, tiny_config
from tests.official_fixture import GOLDEN_JSON, golden_inputs, seeded_state_dict, tiny_namespaces

OCC_ATOL_FP32 = 1e-5
OCC_ATOL_BF16 = 0.03  # measured 0.0175 on the official layout (its fine output gain is 13)
CHAMFER_BF16_VOX = 0.5  # symmetric Chamfer of the bf16 mesh to the fp32 plain mesh, voxels


def _official_fixture(tmp: Path) -> PIFuHD:
    doc = json.loads(GOLDEN_JSON.read_text())
    shapes = {k: tuple(s) for k, s in doc["state_dict"]["keys_in_model_order"]}
    opt, opt_coarse = tiny_namespaces()
    path = tmp / "tiny_pifuhd.pt"
    state = seeded_state_dict(shapes)
    torch.save({"opt": opt, "opt_netG": opt_coarse, "model_state_dict": state}, path)
    return load_checkpoint(path)[0]


def _grid_and_random_points(n_random: int, seed: int, resolution: int = 24) -> torch.Tensor:
    """(N, 3): whole grid columns along z (rays, as the grid evaluators send them) and random
    points in [-1.1, 1.1]^3, some outside the cube, in one query."""
    axis = torch.from_numpy(grid_axis(resolution))
    grid = torch.cartesian_prod(axis, axis, axis)
    g = torch.Generator().manual_seed(seed)
    scattered = torch.rand(n_random, 3, generator=g) * 2.2 - 1.1
    return torch.cat([grid, scattered])


def _cases(tmp: Path) -> list[tuple[str, PIFuHD, tuple[torch.Tensor, torch.Tensor]]]:
    """(name, model, (coarse image, fine image)) of the three architectures."""
    inputs = golden_inputs()
    official = _official_fixture(tmp)
    return [
        ("official-layout", official, (inputs["image_coarse"], inputs["image_fine"])),
        ("tiny", random_model(tiny_config(), seed=1), random_images(1, 64)),
        ("small", random_model(preset("small"), seed=2), random_images(2, 512)),
    ]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.inference_mode():
        out = []
        for name, model, images in _cases(tmp_path_factory.mktemp("fast")):
            features = model.encode(*images)
            points = _grid_and_random_points(2000, seed=3)
            plain = model.query(features, points.T[None], default_calib(1))[0, 0]
            out.append((name, model, features, points, plain))
    torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("index", [0, 1, 2], ids=["official-layout", "tiny", "small"])
def test_fast_fp32_equals_plain(cases, index: int, one_thread) -> None:
    name, model, features, points, plain = cases[index]
    with torch.inference_mode():
        fast = FastQuery(model, features, default_calib(1), precision="fp32")(points)
    assert fast.shape == plain.shape and fast.dtype == torch.float32
    error = (fast - plain).abs().max().item()
    assert error < OCC_ATOL_FP32, f"{name}: max occupancy error {error:.2e}"
    inside = (plain > 0.5).float().mean().item()
    assert 0.0 < inside < 1.0 or name != "official-layout"  # both sides of the surface


@pytest.mark.parametrize("index", [0, 1, 2], ids=["official-layout", "tiny", "small"])
def test_fast_bf16_close_to_plain(cases, index: int, one_thread) -> None:
    name, model, features, points, plain = cases[index]
    with torch.inference_mode():
        fast = FastQuery(model, features, default_calib(1), precision="bf16")(points)
    error = (fast - plain).abs().max().item()
    assert error < OCC_ATOL_BF16, f"{name}: max occupancy error {error:.2e}"


def _spied_query(
    model: PIFuHD, features, precision: str, min_ray_points: float, max_active_fraction: float
) -> tuple[FastQuery, list]:
    """A FastQuery with these split thresholds that records how many layer-0 channels each
    call found active (None: the per-ray split was not used)."""
    fast = FastQuery(model, features, default_calib(1), precision=precision)
    fast.min_ray_points, fast.max_active_fraction = min_ray_points, max_active_fraction
    fast.active_step = fast.ray_step = 1  # no padding: the channels found are counted
    found: list = []
    choose = fast._active_channels

    def spy(*args):
        result = choose(*args)
        found.append(None if result is None else int(result[0].numel()))
        return result

    fast._active_channels = spy  # type: ignore[method-assign]
    return fast, found


@pytest.mark.parametrize("fold", [False, True], ids=["gathered", "folded"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("index", [0, 1, 2], ids=["official-layout", "tiny", "small"])
def test_ray_split_gives_the_plain_values(
    cases, index: int, precision: str, fold: bool, one_thread
) -> None:
    """Rewrite 3 forced on a query of whole grid columns plus scattered single points: the
    plain occupancy, with some but not all of layer 0's channels per point; the per-ray terms
    gathered per point or folded into the product as columns."""
    name, model, features, points, plain = cases[index]
    with torch.inference_mode():
        fast, found = _spied_query(model, features, precision, 0.0, 1.0)  # always split
        fast.max_folded_rays = 10**9 if fold else 0
        values = fast(points)
    channels = model.netG.mlp.config.dims[1]
    assert len(found) == 1 and 0 < found[0] < channels, (name, found)
    error = (values - plain).abs().max().item()
    atol = OCC_ATOL_FP32 if precision == "fp32" else OCC_ATOL_BF16
    assert error < atol, f"{name} {precision}: max occupancy error {error:.2e}"


def test_ray_split_thresholds(cases, one_thread) -> None:
    """The split runs on whole columns (24 points a ray) but not on scattered points (one a
    ray) at the default ``min_ray_points``, and not where too many channels change sign."""
    _, model, features, points, plain = cases[0]
    columns, scattered = points[: 24**3], points[24**3 :]
    with torch.inference_mode():
        fast, found = _spied_query(model, features, "fp32", FastQuery.min_ray_points, 1.0)
        values = torch.cat([fast(columns), fast(scattered)])
        # on this tiny random model 56 of layer 0's 64 channels change sign on some column
        strict, skipped = _spied_query(model, features, "fp32", 0.0, 0.75)
        strict(columns)
    assert found[0] == 56 and found[1] is None, found
    assert skipped == [None]
    torch.testing.assert_close(values, plain, atol=OCC_ATOL_FP32, rtol=0)


@pytest.mark.parametrize("steps", [(8, 5), (48, 7)])
def test_padded_shapes_give_the_same_values(cases, steps: tuple[int, int], one_thread) -> None:
    """Active channels padded with linear ones and ray slots padded with empty ones (the
    shapes oneDNN sees come from a small set): the plain values; the padded count is a
    multiple of the step or all the channels."""
    _, model, features, points, plain = cases[0]  # layer 0 has 64 channels
    with torch.inference_mode():
        fast, found = _spied_query(model, features, "fp32", 0.0, 1.0)
        fast.active_step, fast.ray_step = steps
        fast.max_folded_rays = 10**9
        values = fast(points)
    assert found[0] % steps[0] == 0 or found[0] == 64, found
    torch.testing.assert_close(values, plain, atol=OCC_ATOL_FP32, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ray_columns_add_per_ray_rows(dtype: torch.dtype) -> None:
    """The columns times [value; tilt; tilt] give value[ray] + depth * tilt[ray]; in bfloat16
    the depth keeps about 16 bits (hi + lo), not bfloat16's 8."""
    g = torch.Generator().manual_seed(0)
    ray = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    depth = torch.rand(10, generator=g) * 2.6 - 1.3
    value, tilt = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    columns = torch.zeros(10, 12, dtype=dtype)
    ray_columns(columns, ray, depth)
    assert (columns[:, :4].float() == F.one_hot(ray, 4).float()).all()
    depth_back = columns[:, 4:8].sum(1).double() + columns[:, 8:].sum(1).double()
    assert (depth_back - depth.double()).abs().max() < (1e-7 if dtype == torch.float32 else 2e-5)
    got = columns.double() @ torch.cat([value, tilt, tilt]).double()
    expected = value[ray].double() + depth.double()[:, None] * tilt[ray].double()
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_query_order_does_not_matter(cases, one_thread) -> None:
    """Rays are found from consecutive points: a shuffled query (no two neighbours on one
    ray) gives the same values, permuted."""
    _, model, features, points, plain = cases[0]
    order = torch.randperm(points.shape[0], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        shuffled = FastQuery(model, features, default_calib(1))(points[order])
    torch.testing.assert_close(shuffled, plain[order], atol=OCC_ATOL_FP32, rtol=0)


def test_ray_segments() -> None:
    uv = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.5, 0.0], [0.5, 0.0], [0.0, 0.0], [0.5, 0.1]])
    ray, first = ray_segments(uv)
    assert ray.tolist() == [0, 0, 1, 1, 2, 3]
    assert first.tolist() == [0, 2, 4, 5]


def test_bilinear_rows_matches_grid_sample() -> None:
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(1, 5, 7, 9, generator=g)
    uv = torch.rand(300, 2, generator=g) * 2.6 - 1.3  # some outside: zero padding
    uv[:4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    expected = F.grid_sample(fmap, uv.view(1, -1, 1, 2), align_corners=True)[0, :, :, 0].T
    table = fmap[0].reshape(5, -1).T.contiguous()
    torch.testing.assert_close(bilinear_rows(table, (7, 9), uv), expected, atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def surface_model() -> PIFuHD:
    net = random_model(tiny_config(), seed=0)
    image = load_image(PERSON)
    crop, _ = resolve_crop(PERSON, image)
    give_surface(net, Reconstructor(net, device="cpu", fast=False).encode(image, crop))
    return net


def _chamfer_vox(a: np.ndarray, b: np.ndarray, resolution: int) -> float:
    voxel = 2.0 / resolution
    ab = cKDTree(b).query(a)[0] / voxel
    ba = cKDTree(a).query(b)[0] / voxel
    return float((ab.mean() + ba.mean()) / 2)


def test_reconstructor_fast_fp32_gives_the_plain_mesh(surface_model: PIFuHD, one_thread) -> None:
    resolution = 48
    plain = Reconstructor(surface_model, device="cpu", resolution=resolution, fast=False)(PERSON)
    fast = Reconstructor(surface_model, device="cpu", resolution=resolution, precision="fp32")(
        PERSON
    )
    assert fast.points_evaluated == plain.points_evaluated
    assert _chamfer_vox(fast.mesh.vertices, plain.mesh.vertices, resolution) < 0.01


def test_reconstructor_bf16_mesh_within_half_a_voxel(surface_model: PIFuHD, one_thread) -> None:
    resolution = 48
    # every piece kept: bf16's small changes may split or join pieces of this random field's
    # foam, and the fragment rule would then keep different pieces (not what is measured here)
    keep = InferenceSettings(fragment_share=0.0)
    plain = Reconstructor(
        surface_model, device="cpu", resolution=resolution, fast=False, settings=keep
    )(PERSON)
    bf16 = Reconstructor(
        surface_model, device="cpu", resolution=resolution, precision="bf16", settings=keep
    )(PERSON)
    assert _chamfer_vox(bf16.mesh.vertices, plain.mesh.vertices, resolution) < CHAMFER_BF16_VOX
