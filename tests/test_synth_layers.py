"""Long coats, wide-leg trousers, hoods, bags and straps of synthetic people (stand-in body).

Sampling tests draw hundreds of outfits with the cheap sampling functions only; geometry tests
build single garments on the procedural stand-in body of ``tests/synth_standin.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import ConvexHull, cKDTree

from pifuhd.body.poses import ArmPose, Pose
from pifuhd.body.skinned import Part, skin
from pifuhd.synth.clothing import WIDE_FLARE, Garment, hidden_skin
from pifuhd.synth.hair import HairStyle, hair_sheet
from pifuhd.synth.layers import bag_piece, build_outfit, lean_line, trunk_surface
from pifuhd.synth.outfits import (
    HOODED,
    sample_bag,
    sample_hood,
    sample_long_coat,
    sample_outfit,
)
from pifuhd.synth.patterns import sample_cloth
from pifuhd.synth.skirts import build_garment
from pifuhd.synth.surface import compact, grid_faces, lip_faces
from tests.synth_standin import standin_body
from tests.test_synth import WINDING_INSIDE, person, winding_numbers

FABRIC = sample_cloth(np.random.default_rng(0))
OUTFITS = 400
RESTING = 2.0  # cm: a bag's points keep their distances to the torso through a pose change
# (linear blend skinning between two bones is not quite rigid 15 cm off the skin)
SHIRT = Garment("long-sleeve shirt", "top", 1.2, FABRIC, sleeve=0.9, hem=-2.0, neck=3.0)
TROUSERS = Garment("trousers", "bottom", 0.8, FABRIC, hem=6.0, length=0.95, flare=0.5)
BACKPACK = {"width": 28.0, "height": 36.0, "depth": 14.0, "side": 0.0}
SHOULDER_BAG = {"width": 24.0, "height": 20.0, "depth": 8.0, "side": 1.0}


@pytest.fixture(scope="module")
def body():
    return standin_body({"stature": 170.0}, Pose("relaxed", arms=(ArmPose(35), ArmPose(35))))


def sampled_outfits(n: int = OUTFITS):
    rng = np.random.default_rng(11)
    for _ in range(n):
        female = float(rng.choice([0.1, 0.9, 0.5], p=[0.45, 0.45, 0.1]))
        yield sample_outfit(rng, female, float(rng.uniform(0.2, 0.8)), 170.0)


def test_new_garments_appear_with_their_intended_frequency():
    outfits = list(sampled_outfits())
    names = [[g.name for g in o.garments] for o in outfits]
    share = {
        k: np.mean([k in n for n in names])
        for k in ("long coat", "hood", "backpack", "shoulder bag")
    }
    assert 0.05 <= share["long coat"] <= 0.16, share
    assert 0.05 <= share["hood"] <= 0.16, share
    assert 0.09 <= share["backpack"] + share["shoulder bag"] <= 0.22, share
    long_legs = [n for n in names if {"jeans", "trousers", "wide-leg trousers", "leggings"} & {*n}]
    wide = np.mean(["wide-leg trousers" in n for n in long_legs])
    assert 0.07 <= wide <= 0.22, wide
    for o, n in zip(outfits, names, strict=True):
        assert ("long coat" in n) == ("long coat skirt" in n)
        assert not ("hood" in n and "backpack" in n), "a backpack never lies on a hood"
        if "hood" in n:
            tops = [g.name for g in o.garments if g.kind == "top"]
            assert tops[-1] in HOODED and n.index("hood") > n.index(tops[-1])
        kinds = [g.kind for g in o.garments]
        if "bag" in kinds:
            assert kinds.index("strap") + 1 == kinds.index("bag"), "straps under their bag"
        assert kinds[-1] == "shoes" or "shoes" not in kinds


def test_new_garments_are_described_with_their_sizes():
    rng = np.random.default_rng(2)
    coat, skirt = sample_long_coat(rng, [TROUSERS, SHIRT], SHIRT, 170.0)
    hood = sample_hood(rng, coat)
    strap, bag = sample_bag(rng, hood=True)
    assert bag.name == "shoulder bag" and strap.kind == "strap"
    assert skirt.layered and not skirt.hides_skin and coat.offset > SHIRT.offset
    described = {g.name: g.describe() for g in (coat, skirt, hood, strap, bag)}
    assert {"width", "height", "thickness"} <= described["hood"].keys()
    assert {"width", "height", "depth", "side", "angle", "drop"} <= described["shoulder bag"].keys()
    assert described["hood"]["kind"] == "hood" and described["shoulder bag"]["kind"] == "bag"
    assert described["long coat skirt"]["length"] == round(skirt.length, 2)


@pytest.mark.parametrize("seed", range(4))
def test_long_coat_reaches_below_the_knees_and_encloses_the_legs(body, seed):
    coat, skirt = sample_long_coat(np.random.default_rng(seed), [TROUSERS, SHIRT], SHIRT, 170.0)
    pieces = build_outfit(body, (TROUSERS, SHIRT, coat, skirt), range(4))
    knee = max(body.joints["knee.L"][1], body.joints["knee.R"][1])
    coat_skirt = pieces[3]
    assert coat_skirt.vertices[:, 1].min() < knee - 3.0
    mesh = trimesh.Trimesh(coat_skirt.vertices, coat_skirt.faces)
    assert mesh.is_watertight and mesh.volume > 0
    top = coat_skirt.vertices[:, 1].max()
    hem = coat_skirt.vertices[:, 1].min()
    inner = np.concatenate([p.vertices for p in pieces[:2]])
    inner = inner[(inner[:, 1] < top - 2.0) & (inner[:, 1] > hem + 2.0)]
    assert len(inner) > 50
    w = winding_numbers(inner, coat_skirt.vertices, coat_skirt.faces)
    assert (w > WINDING_INSIDE).all(), "the coat's skirt encloses the trousers and shirt"


def test_wide_leg_trousers_flare_and_close_their_hems(body):
    girths = {}
    for flare in (0.5, 6.0):
        g = Garment("trousers", "bottom", 1.0, FABRIC, hem=6.0, length=0.95, flare=flare)
        piece = build_garment(body, g, seed=0)
        left = piece.vertices[piece.vertices[:, 0] > 0]
        hem = left[:, 1].min()
        slab = left[np.abs(left[:, 1] - hem - 8.0) < 4.0]
        girths[flare] = ConvexHull(slab[:, [0, 2]]).area  # perimeter around the left leg
    assert WIDE_FLARE <= 6.0
    assert girths[6.0] > 1.4 * girths[0.5], girths
    below_crotch = piece.vertices[piece.vertices[:, 1] < 70.0]
    left, right = below_crotch[below_crotch[:, 0] > 0], below_crotch[below_crotch[:, 0] < 0]
    assert cKDTree(right).query(left)[0].min() > 0.5, "the two legs do not run into each other"
    # the lip closes the hem onto the skin: the air inside the trouser leg is inside
    used, faces = compact(body.faces[~hidden_skin(body, [g])])
    verts = np.concatenate([body.vertices[used], piece.vertices])
    faces = np.concatenate([faces, piece.faces + len(used)])
    leg = body.vertices[(body.parts == Part.LEG_L) & (np.abs(body.vertices[:, 1] - hem - 6) < 4)]
    centre = leg[:, [0, 2]].mean(axis=0)
    radius = np.linalg.norm(leg[:, [0, 2]] - centre, axis=1).mean() + 2.0
    angles = np.linspace(0.0, 2 * np.pi, 12, endpoint=False)
    air = np.stack(
        [
            centre[0] + radius * np.sin(angles),
            np.full(12, hem + 6.0),
            centre[1] + radius * np.cos(angles),
        ],
        axis=1,
    )
    assert (winding_numbers(air, verts, faces) > WINDING_INSIDE + 0.3).all()


def test_lip_faces_fold_every_rim_edge_consistently():
    rows, cols = 4, 9
    angles = np.linspace(0.0, np.pi, cols)
    grid = np.stack(
        np.broadcast_arrays(
            np.sin(angles)[None], np.linspace(3.0, 0.0, rows)[:, None], np.cos(angles)[None]
        ),
        axis=-1,
    ).reshape(-1, 3)
    faces = grid_faces(rows, cols)
    rim, lipped = lip_faces(faces, np.arange(len(grid)))
    assert len(rim) == 2 * (rows + cols) - 4
    assert len(lipped) == len(faces) + 2 * len(rim)  # a closed rim loop: as many edges
    twins = np.concatenate([grid, 0.5 * grid[rim]])
    mesh = trimesh.Trimesh(twins, lipped, process=False)
    assert mesh.is_winding_consistent


def test_hood_is_a_closed_slab_on_the_upper_back(body):
    hood = sample_hood(np.random.default_rng(0), SHIRT)
    shirt, piece = build_outfit(body, (SHIRT, hood), range(2))
    mesh = trimesh.Trimesh(piece.vertices, piece.faces)  # merges the uv seam copies
    assert mesh.is_watertight and mesh.volume > 0
    neck, root = body.joints["neck"], body.joints["root"]
    assert piece.vertices[:, 1].max() < neck[1] + 3.0
    assert piece.vertices[:, 1].min() > root[1]
    back = shirt.vertices[:, 2].min()
    sticks_out = back - piece.vertices[:, 2].min()
    assert sticks_out > 0.5 * hood.extra["thickness"], "it thickens the back's silhouette"
    neck_skin = body.vertices[body.parts == Part.NECK]
    w = winding_numbers(neck_skin, piece.vertices, piece.faces)
    assert (w < WINDING_INSIDE).all(), "it lies behind the neck, not around it"


def test_bag_moves_rigidly_with_the_torso(body):
    bag = Garment("backpack", "bag", 0.0, FABRIC, extra=BACKPACK)
    piece = build_outfit(body, (SHIRT, bag), range(2))[1]
    assert (piece.weights == piece.weights[0]).all(), "one set of weights: a rigid bag"
    turned = standin_body({"stature": 170.0}, Pose("turned", torso_yaw=30.0, torso_bend=10.0))
    moved = skin(piece.rest_vertices, piece.weights, turned.transforms)
    torso = body.part_mask(Part.TORSO)
    before = cKDTree(body.vertices[torso]).query(piece.vertices)[0]
    after = cKDTree(turned.vertices[torso]).query(moved)[0]
    np.testing.assert_allclose(after, before, atol=RESTING)
    assert np.linalg.norm(moved.mean(0) - piece.vertices.mean(0)) > 5.0, "the pose moved it"


@pytest.mark.parametrize("extra", [BACKPACK, SHOULDER_BAG], ids=["backpack", "shoulder bag"])
def test_bag_rests_on_the_outermost_layer(body, extra):
    extra = {**extra, "angle": 120.0, "drop": 5.0} if extra["side"] else extra
    bag = Garment("bag", "bag", 0.0, FABRIC, extra=extra)
    jacket = Garment("jacket", "top", 3.0, FABRIC, sleeve=0.95, hem=-10.0, neck=1.0)
    pieces = build_outfit(body, (TROUSERS, SHIRT, jacket), range(3))
    under = trunk_surface(body, pieces)
    piece = bag_piece(body, bag, under)
    mesh = trimesh.Trimesh(piece.vertices, piece.faces)
    assert mesh.is_watertight and mesh.volume > 0.5 * np.prod(list(extra.values())[:3])
    for layer in pieces:
        w = winding_numbers(layer.vertices, piece.vertices, piece.faces)
        assert (w < WINDING_INSIDE).all(), f"the bag cuts into the {layer.name}"
    gap = cKDTree(under.vertices).query(piece.vertices)[0].min()
    assert gap < 2.0, "it touches what it rests on"


def test_lean_line_lies_beyond_the_profile_with_the_least_gap():
    heights = np.linspace(-10.0, 10.0, 11)
    z0, slope = lean_line(heights, 5.0 + 0.2 * heights)
    assert slope == pytest.approx(0.2) and z0 == pytest.approx(5.0)
    bump = np.where(np.abs(heights) < 3.0, 8.0, 5.0)
    z0, slope = lean_line(heights, bump)
    assert (z0 + slope * heights >= bump - 1e-9).all() and slope == pytest.approx(0.0)


def test_straps_run_over_the_outermost_layer(body):
    jacket = Garment("jacket", "top", 3.0, FABRIC, sleeve=0.95, hem=-10.0, neck=1.0)
    strap = Garment("strap", "strap", 0.6, FABRIC, extra={"side": 1.0, "width": 5.0})
    _, worn, piece = build_outfit(body, (SHIRT, jacket, strap), range(3))
    torso = trimesh.Trimesh(
        body.vertices, body.faces[(body.parts[body.faces] == Part.TORSO).all(1)]
    )
    skin = cKDTree(trimesh.sample.sample_surface(torso, 40000, seed=0)[0])
    jacket_points = trimesh.sample.sample_surface(
        trimesh.Trimesh(worn.vertices, worn.faces, process=False), 40000, seed=0
    )[0]
    out = piece.vertices[skin.query(piece.vertices)[0] > 1.0]  # the lip's edge is on the skin
    assert len(out) > 20
    nearest = jacket_points[cKDTree(jacket_points).query(out)[1]]
    outward = nearest - skin.data[skin.query(nearest)[1]]
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    beyond = np.einsum("ij,ij->i", out - nearest, outward)
    # (the stand-in's overlapping shoulder parts bend the jacket: a few points dip in there)
    assert (beyond > 0.0).mean() > 0.85, "the straps lie on the jacket"
    assert np.median(beyond) > 0.5 * strap.offset


def test_long_hair_hangs_over_a_hood(body):
    hood = sample_hood(np.random.default_rng(1), SHIRT)
    pieces = build_outfit(body, (SHIRT, hood), range(2))
    from pifuhd.body.skinned import head_frame

    head = head_frame(body.rest_vertices, body.parts)
    style = HairStyle("long", (0.3, 0.2, 0.1), "brown", thickness=1.0, drop=35.0, sheet=2.0)
    sheet = hair_sheet(body, head, style, over=trunk_surface(body, pieces).vertices)
    w = winding_numbers(sheet.vertices, pieces[1].vertices, pieces[1].faces)
    assert (w < WINDING_INSIDE).all(), "the hair lies over the hood, not through it"


NEW = ("wide-leg trousers", "long coat", "long coat skirt", "hood", "backpack", "shoulder bag")


def test_extras_stream_leaves_the_format_1_draws_alone():
    for seed in range(40):
        states, kept = [], []
        for stream in (1, 2):
            rng = np.random.default_rng(seed)
            outfit = sample_outfit(rng, 0.5, 0.5, 170.0, np.random.default_rng([seed, stream]))
            states.append(rng.bit_generator.state)
            old = [g for g in outfit.garments if g.kind not in ("hood", "strap", "bag")]
            kept.append([g.describe() for g in old if g.name not in (*NEW, "trousers")])
        assert states[0] == states[1], "the person's own draws do not depend on the extras"
        assert kept[0] == kept[1]


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (36, {"wide-leg trousers", "long coat", "long coat skirt"}),
        (54, {"long coat", "backpack straps", "backpack"}),
        (111, {"hood", "shoulder bag strap", "shoulder bag"}),
    ],
)
def test_person_with_new_garments_is_a_consistent_avatar(seed, expected):
    p = person(seed)
    kinds = {g["name"]: g["kind"] for g in p.params["garments"]}
    assert expected <= kinds.keys(), kinds
    assert p.params["format"] == 2 and set(p.params["counts"]["pieces"]) >= expected
    for name, kind in (("hood", "hood"), ("backpack", "bag"), ("shoulder bag", "bag")):
        assert kinds.get(name, kind) == kind
    np.testing.assert_allclose(
        skin(p.rest_vertices, p.weights, p.transforms), p.vertices, atol=1e-6
    )
