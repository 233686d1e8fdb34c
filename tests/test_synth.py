"""Synthetic clothed people: garments, skirts, textures, determinism, files, Anny.

All but the last test use the procedural stand-in body of ``tests/synth_standin.py``; the last,
``test_anny_person_end_to_end``, builds a real Anny person (it needs ``anny`` and the
``ANNY_CACHE_DIR`` environment variable: a cold cache costs about 80-95 s and 790 MB there).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

import pifuhd.synth.people as synth
from pifuhd.body.poses import ArmPose, LegPose, Pose
from pifuhd.body.skinned import Part, limb_penetration, skin
from pifuhd.synth.clothing import Garment, coverage, covered_region
from pifuhd.synth.patterns import cloth_albedo, sample_cloth
from pifuhd.synth.person_io import dense_weights, write_person
from pifuhd.synth.skirts import build_garment, skirt_rings
from pifuhd.synth.surface import face_components
from tests.synth_standin import standin_body

SMALL_ATLAS = 256
WINDING_INSIDE = 0.5
CREASE_FRACTION = 0.04  # garment vertices bridging skin creases on a real body
SHOE_HULL_SLACK = 3.0  # cm: shoes are convex envelopes, away from concave skin
SAMPLE_SPACING = 0.3  # cm: distances to a 40 000-point sample of a stand-in part
SKIN_FIT = 1e-6  # cm: rest.obj skinned with the weights lands on mesh.obj
FILE_FIT = 2e-3  # cm: the same through the written files (5 decimals, float32 weights)

FABRIC = sample_cloth(np.random.default_rng(0))
WALK = Pose(
    "walk",
    arms=(ArmPose(12, -15, 0, 20), ArmPose(12, 20, 0, 25)),
    legs=(LegPose(4, 22, 8, 0), LegPose(4, -14, 25, 15)),
)


def winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(M,) generalised winding numbers of points w.r.t. a triangle soup (slow, obvious)."""
    out = np.zeros(len(points))
    chunk = max(1, 2_000_000 // max(len(faces), 1))
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None, :]
        a, b, c = (vertices[faces[:, k]][None] - p for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        det = np.einsum("mfi,mfi->mf", a, np.cross(b, c))
        den = (
            la * lb * lc
            + np.einsum("mfi,mfi->mf", a, b) * lc
            + np.einsum("mfi,mfi->mf", a, c) * lb
            + np.einsum("mfi,mfi->mf", b, c) * la
        )
        out[start : start + chunk] = np.arctan2(det, den).sum(axis=1) / (2 * np.pi)
    return out


@pytest.fixture(scope="module")
def body():
    return standin_body({"stature": 170.0}, Pose("relaxed", arms=(ArmPose(35), ArmPose(35))))


@pytest.fixture(scope="module")
def walker():
    return standin_body({"stature": 170.0}, WALK)


SHELLS = [
    Garment("long-sleeve shirt", "top", 1.2, FABRIC, sleeve=0.9, hem=2.0, neck=3.0),
    Garment("jeans", "bottom", 0.8, FABRIC, hem=6.0, length=0.95, flare=0.5),
    Garment("sneakers", "shoes", 0.5, FABRIC, length=0.97, extra={"sole": 1.5}),
]


@pytest.mark.parametrize("garment", SHELLS, ids=lambda g: g.name)
def test_shells_lie_outside_the_skin_they_cover(body, garment):
    """Each garment vertex lies outside, and at least half the offset away from, the body
    part it was offset from. (The stand-in's parts are separate closed surfaces that overlap;
    near their intersection creases a shell may dip into the neighbouring part, which a real
    body, one surface, does not have: at most a few percent of the vertices.)"""
    piece = build_garment(body, garment, seed=0)
    sub, _ = covered_region(body, coverage(body, garment))
    assert len(sub.a) == len(piece.vertices), "one garment vertex per covered skin point"
    component = face_components(body.faces)
    vertex_component = np.zeros(len(body.vertices), np.int64)
    vertex_component[body.faces.ravel()] = np.repeat(component, 3)
    source = vertex_component[sub.a]
    for c in np.unique(source):
        mine = source == c
        faces = body.faces[component == c]
        w = winding_numbers(piece.vertices[mine], body.vertices, faces)
        assert (w < WINDING_INSIDE).all(), "a garment vertex is inside its body part"
        part = trimesh.Trimesh(body.vertices, faces, process=False)
        dense = trimesh.sample.sample_surface(part, 40000, seed=0)[0]
        distance = cKDTree(dense).query(piece.vertices[mine])[0]
        assert distance.min() > 0.5 * garment.offset - SAMPLE_SPACING
    covered = body.vertices[coverage(body, garment) < -2.0]
    shell_points = trimesh.sample.sample_surface(
        trimesh.Trimesh(piece.vertices, piece.faces, process=False), 40000, seed=0
    )[0]
    gap = cKDTree(shell_points).query(covered)[0]
    hull_slack = SHOE_HULL_SLACK if garment.kind == "shoes" else 0.0  # convex shoes
    assert gap.max() < garment.offset + 3.0 + hull_slack, "the garment covers its region"


def test_skirt_bridges_the_legs_and_encloses_them(walker):
    skirt = Garment("skirt", "skirt", 1.0, FABRIC, hem=8.0, length=55.0, flare=0.15)
    piece = build_garment(walker, skirt, seed=0)
    knee_y = 0.5 * (walker.joints["knee.L"][1] + walker.joints["knee.R"][1]) + 8.0
    between = np.array([[0.0, knee_y, z] for z in (-3.0, 0.0, 3.0)])
    assert (winding_numbers(between, piece.vertices, piece.faces) > 0.9).all()
    top, bottom = piece.vertices[:, 1].max(), piece.vertices[:, 1].min()
    legs = walker.vertices[walker.part_mask(Part.LEG_L, Part.LEG_R)]
    legs = legs[(legs[:, 1] < top - 3.0) & (legs[:, 1] > bottom + 3.0)]
    assert len(legs) > 50
    assert (winding_numbers(legs, piece.vertices, piece.faces) > 0.9).all()


def test_skirt_radius_never_shrinks_going_down(walker):
    skirt = Garment("skirt", "skirt", 1.0, FABRIC, hem=8.0, length=55.0, flare=0.1)
    rings = skirt_rings(walker, skirt, seed=3)[:-1]  # the last ring is the hem's inner lip
    centre = np.array([walker.joints["root"][0], walker.joints["root"][2]])
    radius = np.linalg.norm(rings[:, :, [0, 2]] - centre, axis=-1)
    unfolded = radius / radius.mean(axis=0)  # folds scale each column by a fixed profile
    assert (np.diff(rings[:, 0, 1]) < 0).all()
    assert (np.diff(radius.mean(axis=1)) >= -1e-9).all()
    assert np.isfinite(unfolded).all()


def test_limb_penetration_flags_hands_inside_the_trunk():
    inside = Pose("into the hips", arms=(ArmPose(-10, 0, 0, 0), ArmPose(-10, 0, 0, 0)))
    assert limb_penetration(standin_body({}, inside)) > synth.MAX_PENETRATION
    for pose in (Pose("relaxed", arms=(ArmPose(20), ArmPose(20))), WALK):
        assert limb_penetration(standin_body({}, pose)) == 0.0


def test_cloth_textures_are_deterministic_and_distinct_per_seed():
    p = np.random.default_rng(5).uniform(-40, 40, size=(4000, 3))
    styles = [sample_cloth(np.random.default_rng(s)) for s in range(6)]
    again = [sample_cloth(np.random.default_rng(s)) for s in range(6)]
    assert styles == again
    colours = [cloth_albedo(p, s) for s in styles]
    np.testing.assert_array_equal(colours[0], cloth_albedo(p, again[0]))
    for i in range(1, 6):
        assert np.abs(colours[i] - colours[0]).mean() > 0.01
    assert all(c.min() >= 0 and c.max() <= 1 for c in colours)


MAKE_PERSON = synth.make_person


def person(seed: int) -> synth.SynthPerson:
    return MAKE_PERSON(seed, body_fn=standin_body, atlas_size=SMALL_ATLAS)


@pytest.fixture(scope="module")
def person3():
    return person(3)


def test_make_person_is_deterministic_per_seed(person3):
    again = person(3)
    for name in ("vertices", "rest_vertices", "faces", "uv", "texture", "weights", "transforms"):
        np.testing.assert_array_equal(getattr(person3, name), getattr(again, name))
    assert person3.params == again.params
    other = person(4)
    assert other.params["garments"] != person3.params["garments"]
    assert not np.array_equal(other.texture, person3.texture)


def test_person_is_a_consistent_avatar(person3):
    p = person3
    np.testing.assert_allclose(p.weights.sum(axis=1), 1.0, atol=1e-12)
    assert ((p.weights > 0).sum(axis=1) <= 9).all()
    np.testing.assert_allclose(
        skin(p.rest_vertices, p.weights, p.transforms), p.vertices, atol=SKIN_FIT
    )
    assert p.vertices[:, 1].min() == 0.0 and p.rest_vertices[:, 1].min() == 0.0
    assert p.uv.min() >= 0.0 and p.uv.max() <= 1.0
    assert p.texture.shape == (SMALL_ATLAS, SMALL_ATLAS, 3) and p.texture.dtype == np.uint8
    assert p.texture.std() > 10
    pieces = p.params["counts"]["pieces"]
    assert pieces[0] == "skin" and len(pieces) >= 2


def test_write_person_round_trips_through_trimesh(person3, tmp_path):
    folder = write_person(person3, tmp_path / "person_00003")
    names = {"mesh.obj", "mesh.mtl", "texture.png", "rest.obj", "avatar.npz", "person.json"}
    assert {f.name for f in folder.iterdir()} == names
    mesh = trimesh.load(folder / "mesh.obj", process=False, force="mesh")
    np.testing.assert_allclose(mesh.vertices, person3.vertices, atol=1e-5)
    np.testing.assert_array_equal(mesh.faces, person3.faces)
    np.testing.assert_allclose(mesh.visual.uv, person3.uv, atol=1e-6)
    image = np.asarray(mesh.visual.material.image.convert("RGB"))
    np.testing.assert_array_equal(image, person3.texture)
    rest = trimesh.load(folder / "rest.obj", process=False, force="mesh")
    np.testing.assert_array_equal(rest.faces, person3.faces)
    avatar = np.load(folder / "avatar.npz")
    weights = dense_weights(
        avatar["skin_indices"], avatar["skin_weights"], len(avatar["bone_labels"])
    )
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    posed = skin(rest.vertices, weights, avatar["bone_transforms"])
    np.testing.assert_allclose(posed, mesh.vertices, atol=FILE_FIT)
    params = json.loads((folder / "person.json").read_text())
    assert params["seed"] == 3 and params["pose"]["name"] == person3.params["pose"]["name"]
    assert not list(tmp_path.glob(".*")), "no temporary folder left behind"


def test_synth_people_writes_folders_and_resumes(tmp_path, monkeypatch):
    made = []

    def fake(seed, cache_dir=None):
        made.append(seed)
        return person(seed % 7)

    monkeypatch.setattr(synth, "make_person", fake)
    first = synth.synth_people(2, tmp_path, seed=1, progress=False)
    assert [f.name for f in first] == ["person_00000", "person_00001"]
    stamp = (first[0] / "mesh.obj").stat().st_mtime_ns
    folders = synth.synth_people(3, tmp_path, seed=1, progress=False)
    assert len(made) == 3, "existing people are skipped"
    assert (first[0] / "mesh.obj").stat().st_mtime_ns == stamp
    assert folders[2].name == "person_00002" and (folders[2] / "texture.png").exists()
    assert made[:2] == [synth.person_seed(1, 0), synth.person_seed(1, 1)]
    assert len(set(made)) == 3


def test_missing_anny_gives_the_install_hint(monkeypatch):
    import pifuhd.body.anny as anny_body
    from pifuhd.errors import PifuhdError

    monkeypatch.setitem(sys.modules, "anny", None)
    monkeypatch.setattr(anny_body, "_MODELS", {})
    with pytest.raises(PifuhdError, match=r"pip install 'pifuhd\[data\]'"):
        synth.make_person(0)


def test_anny_person_end_to_end(anny_cache: None) -> None:
    """A real Anny person: needs ``anny`` and ANNY_CACHE_DIR (cold cache: ~80-95 s, 790 MB)."""
    p = synth.make_person(0)
    height = np.ptp(p.vertices[:, 1])
    assert 140.0 <= height <= 200.0, height
    assert len(p.vertices) > 5000 and len(p.faces) > 10000
    assert p.texture.shape == (synth.ATLAS_SIZE, synth.ATLAS_SIZE, 3) and p.texture.std() > 10
    np.testing.assert_allclose(
        skin(p.rest_vertices, p.weights, p.transforms), p.vertices, atol=1e-5
    )
    assert p.params["versions"]["anny"] != "missing"
    # the stored Anny inputs reproduce the posed skeleton
    from pifuhd.body.anny import JOINT_BONES, load_anny

    model = load_anny()
    import torch

    with torch.no_grad():
        out = model(
            pose_parameters=torch.as_tensor(p.arrays["pose_deltas"])[None],
            phenotype_kwargs=p.params["body"]["anny_shape"],
        )
    heads = 100.0 * out["bone_poses"][0, :, :3, 3].numpy()
    to_subject = p.arrays["anny_to_subject"]
    names = list(p.arrays["joint_names"])
    for joint, bone in JOINT_BONES.items():
        expected = to_subject[:3, :3] @ heads[model.bone_labels.index(bone)] + to_subject[:3, 3]
        np.testing.assert_allclose(p.arrays["joints"][names.index(joint)], expected, atol=1e-3)


def test_anny_shells_lie_outside_the_body(anny_cache: None) -> None:
    """Garments offset from a real (single-surface) Anny body in a walking pose stay outside
    it, but for a few vertices bridging creases (toe gaps, armpits, the front of a bent ankle:
    their skin is hidden under the garment). Needs ``anny`` and ANNY_CACHE_DIR."""
    from pifuhd.body.anny import anny_body

    body = anny_body({"gender": 0.5, "age": 0.7, "weight": 0.7, "stature": 170.0}, WALK)
    for garment in SHELLS:
        piece = build_garment(body, garment, seed=1)
        w = winding_numbers(piece.vertices, body.vertices, body.faces)
        assert (w > WINDING_INSIDE).mean() < CREASE_FRACTION, garment.name
