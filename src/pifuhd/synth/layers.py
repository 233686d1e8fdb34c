"""Pieces laid over other garments (lowered hoods, bags and their straps), and whole outfits
built in layer order.

Each garment is built on the posed body knowing the posed trunk surface of the garments
already built (``under``, a :class:`TrunkSurface`: arms and head left out): a long coat's
skirt rings enclose it, a hood lies on the outermost back (found by casting rays), straps
run over the outermost layer, a bag's inner face rests on whatever it touches. Hoods and bags
are closed solids (a slab, a rounded box) and straps are shells whose rims fold onto the skin
(thin closed bands), so inside/outside labels stay crisp. All take the skinning weights of
the torso under them: posing moves them with it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pifuhd.body.skinned import (
    ARMS,
    HANDS,
    Body,
    Part,
    limit_influences,
    nearest_vertices,
    unskin,
)
from pifuhd.synth.clothing import FAR, Garment, fabric_shell
from pifuhd.synth.patterns import cloth_albedo
from pifuhd.synth.skirts import build_garment
from pifuhd.synth.surface import Piece, compact, ellipsoid, thick_sheet

BAG_GAP = 0.3
"""cm between a bag and the surface it rests on."""
MAX_LEAN = 0.6
"""Largest slope (forward cm per cm up) of a bag leaning on the body."""
BOX_EXPONENT = 0.35
"""Rounded boxes are unit spheres with each coordinate ``t -> sign(t) |t| ** BOX_EXPONENT``
(1: the ellipsoid; toward 0: a sharp box)."""
STRAP_REACH = 12.0
"""cm: straps rest on the outermost garment within this distance of the skin."""
NOT_TRUNK = (*ARMS, *HANDS, Part.HEAD, Part.EYE)


@dataclass(frozen=True)
class TrunkSurface:
    """Posed garment surface (cm) over the trunk: vertices (M, 3) float64, faces (G, 3) int64."""

    vertices: np.ndarray
    faces: np.ndarray


EMPTY = TrunkSurface(np.zeros((0, 3)), np.zeros((0, 3), np.int64))


def on_trunk(body: Body, points: np.ndarray) -> np.ndarray:
    """(N,) bool: posed ``points`` (N, 3) whose nearest body vertex is off the arms, hands
    and head."""
    if len(points) == 0:
        return np.zeros(0, bool)
    nearest = nearest_vertices(points, body.vertices, np.ones(len(body.vertices), bool))
    return ~np.isin(body.parts[nearest], np.asarray(NOT_TRUNK, np.int8))


def trunk_surface(body: Body, pieces: list[Piece]) -> TrunkSurface:
    """The faces of ``pieces`` lying over the trunk (every corner :func:`on_trunk`): the
    surface that later layers must lie over."""
    if not pieces:
        return EMPTY
    offsets = np.cumsum([0] + [len(p.vertices) for p in pieces])
    verts = np.concatenate([p.vertices for p in pieces])
    faces = np.concatenate([p.faces + o for p, o in zip(pieces, offsets, strict=False)])
    faces = faces[on_trunk(body, verts)[faces].all(axis=1)]
    if len(faces) == 0:
        return EMPTY
    used, faces = compact(faces)
    return TrunkSurface(verts[used], faces)


def clothed_trunk(body: Body, under: TrunkSurface) -> TrunkSurface:
    """The trunk skin and the garment surface ``under`` on it, as one posed surface (all the
    body's vertices are kept; only trunk faces are)."""
    faces = body.faces[~body.part_mask(*NOT_TRUNK)[body.faces].any(axis=1)]
    n = len(body.vertices)
    return TrunkSurface(
        np.concatenate([body.vertices, under.vertices]), np.concatenate([faces, under.faces + n])
    )


def ray_hits(
    surface: TrunkSurface, origins: np.ndarray, directions: np.ndarray, last: bool = False
) -> np.ndarray:
    """(N,) distance (cm) along each ray (origins, unit directions: (N, 3)) to its first hit
    on ``surface`` (its last with ``last``); inf where it misses."""
    import trimesh

    out = np.full(len(origins), np.inf)
    if len(surface.faces) == 0 or len(origins) == 0:
        return out
    mesh = trimesh.Trimesh(surface.vertices, surface.faces, process=False)
    where, ray, _ = mesh.ray.intersects_location(origins, directions, multiple_hits=True)
    distance = np.einsum("ij,ij->i", where - origins[ray], directions[ray])
    if last:
        out[:] = -np.inf
        np.maximum.at(out, ray, distance)
        return np.where(np.isfinite(out), out, np.inf)
    np.minimum.at(out, ray, distance)
    return out


def _frame(origin: np.ndarray, left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(4, 3): the origin, then unit left, up and forward axes (left made normal to up)."""
    up = up / np.linalg.norm(up)
    left = left - (left @ up) * up
    left = left / np.linalg.norm(left)
    return np.stack([origin, left, up, np.cross(left, up)])


def torso_frame(body: Body) -> np.ndarray:
    """(4, 3) posed frame of the upper back: origin at the neck joint, left from the right to
    the left shoulder, up from the waist to the neck, forward = left x up."""
    j = body.joints
    return _frame(j["neck"], j["shoulder.L"] - j["shoulder.R"], j["neck"] - j["waist"])


def pelvis_frame(body: Body) -> np.ndarray:
    """(4, 3) posed frame of the pelvis: origin at the root joint, axes as in
    :func:`torso_frame` from the hips and the lower spine."""
    j = body.joints
    return _frame(j["root"], j["hip.L"] - j["hip.R"], j["waist"] - j["root"])


def to_local(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) coordinates of posed ``points`` (N, 3) along the frame's three axes."""
    return (points - frame[0]) @ frame[1:].T


def to_posed(frame: np.ndarray, local: np.ndarray) -> np.ndarray:
    """(N, 3) posed points of frame coordinates ``local`` (N, 3); inverse of :func:`to_local`."""
    return frame[0] + local @ frame[1:]


def back_depth(surface: TrunkSurface, frame: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(Q,) forward coordinate (cm, in ``frame``, see :func:`torso_frame`) of the backmost
    point of ``surface`` at each ``query`` (Q, 2) (left, up); misses take the value of the
    nearest query that hits (0 when none does)."""
    start = to_posed(frame, np.concatenate([query, np.full((len(query), 1), -100.0)], axis=1))
    directions = np.repeat(frame[3][None], len(query), axis=0)
    depth = -100.0 + ray_hits(surface, start, directions)
    hit = np.isfinite(depth)
    if not hit.any():
        return np.zeros(len(query))
    gaps = np.linalg.norm(query[:, None] - query[hit][None], axis=-1)
    return depth[np.flatnonzero(hit)[np.argmin(gaps, axis=1)]]


def _skinned(body: Body, verts: np.ndarray, faces, uv, g: Garment, anchors: np.ndarray) -> Piece:
    """A cloth piece at ``verts`` (N, 3) posed, with the weights of body vertices ``anchors``."""
    weights = limit_influences(body.weights[anchors])
    style = g.style
    return Piece(
        g.name,
        "cloth",
        verts,
        unskin(verts, weights, body.transforms),
        faces,
        uv,
        weights,
        lambda p, f: cloth_albedo(p, style),
        info=g.describe(),
    )


def hood_piece(
    body: Body, g: Garment, under: TrunkSurface, rows: int = 14, cols: int = 17
) -> Piece:
    """A lowered hood: a slab lying on the upper back from the base of the neck down
    ``g.extra["height"]`` cm, ``g.extra["width"]`` cm wide at the top and narrower below,
    ``g.offset`` cm off the outermost surface (``under`` or the skin) and up to
    ``g.extra["thickness"]`` cm thicker in its middle, thinning to its sides and bottom. Its
    inner face lies 1 cm inside that surface, so no gap shows."""
    frame = torso_frame(body)
    shoulders = to_local(frame, np.stack([body.joints["shoulder.L"], body.joints["shoulder.R"]]))
    top = 0.5 * shoulders[:, 1].mean() + 2.0  # halfway from the shoulders to the neck joint
    height, half, thickness = g.extra["height"], 0.5 * g.extra["width"], g.extra["thickness"]
    s = np.linspace(-1.0, 1.0, cols)[None]
    v = np.linspace(0.0, 1.0, rows)[:, None]
    upper, lower = top - 5.0 * s**2, top - height * (1.0 - 0.4 * s**2)
    a = s * half * (1.0 - 0.35 * v**2)
    b = upper + v * (lower - upper)
    query = np.stack([a.ravel(), b.ravel()], 1)
    depth = back_depth(clothed_trunk(body, under), frame, query).reshape(rows, cols)
    for _ in range(2):  # smooth, never moving in front of the surface
        padded = np.pad(depth, 1, mode="edge")
        box = sum(padded[i : i + rows, k : k + cols] for i in range(3) for k in range(3)) / 9
        depth = np.minimum(depth, box)
    profile = np.sqrt(np.clip(1.0 - s**2, 0.0, 1.0)) * np.sin(np.pi * (0.15 + 0.85 * v)) ** 0.7
    outer = np.stack([a, b, depth - g.offset - thickness * profile], axis=-1)
    inner = np.stack([a, b, depth + 1.0], axis=-1)
    local_verts, faces, uv = thick_sheet(outer[:, ::-1], inner[:, ::-1])
    verts = to_posed(frame, local_verts)
    anchors = nearest_vertices(verts, body.vertices, body.part_mask(Part.TORSO, Part.NECK))
    return _skinned(body, verts, faces, uv, g, anchors)


def strap_field(body: Body, g: Garment) -> np.ndarray:
    """(V,) coverage field (cm, negative = covered) of bag straps on the torso, in the rest
    pose: bands ``g.extra["width"]`` cm wide along lines of the (x, y) plane, so each covers
    the front and the back and wraps over a shoulder. ``g.extra["side"]`` +-1: one strap
    across the body from the opposite shoulder to that hip (a shoulder bag); 0: a pair over
    both shoulders down to the chest (a backpack)."""
    j = body.rest_joints
    xy = body.rest_vertices[:, :2]
    shoulder_y = 0.5 * (j["shoulder.L"][1] + j["shoulder.R"][1])
    over = 0.6 * abs(j["shoulder.L"][0] - j["neck"][0])
    side = g.extra["side"]
    if side:
        hip = j["root"][:2] + np.array([1.6 * side * abs(j["hip.L"][0] - j["root"][0]), 2.0])
        lines = [[(-side * over, shoulder_y + 20.0), (-side * over, shoulder_y), tuple(hip)]]
    else:
        low = j["chest"][1] - 5.0
        lines = [[(x, shoulder_y + 20.0), (x, shoulder_y), (x * 1.4, low)] for x in (-over, over)]
    distance = np.full(len(xy), np.inf)
    for line in lines:
        for p, q in itertools.pairwise(line):
            p, q = np.asarray(p, float), np.asarray(q, float)
            t = np.clip((xy - p) @ (q - p) / ((q - p) @ (q - p)), 0.0, 1.0)
            distance = np.minimum(distance, np.linalg.norm(xy - p - t[:, None] * (q - p), axis=1))
    return np.where(body.part_mask(Part.TORSO), distance - 0.5 * g.extra["width"], FAR)


def strap_piece(body: Body, g: Garment, seed: int, under: TrunkSurface) -> Piece:
    """Bag straps: the :func:`strap_field` band ``g.offset`` cm off the outermost surface
    (``under`` within ``STRAP_REACH`` cm along the skin normals, else the skin), its rims
    folded onto the skin so it is a thin closed band."""
    field_ = strap_field(body, g)
    near = np.flatnonzero(field_ < 3.0)
    normals = body.normals(smooth_iterations=4)[near]
    reach = np.zeros(len(field_))
    hits = ray_hits(under, body.vertices[near], normals, last=True)
    reach[near] = np.where(hits <= STRAP_REACH, hits, 0.0)
    edges = np.concatenate([body.faces[:, [0, 1]], body.faces[:, [1, 2]], body.faces[:, [2, 0]]])
    grown = reach.copy()  # rays slipping between triangles must not dent the strap
    np.maximum.at(grown, edges[:, 0], reach[edges[:, 1]])
    np.maximum.at(grown, edges[:, 1], reach[edges[:, 0]])
    offset = g.offset + grown
    return fabric_shell(body, g, field_, offset, seed, drape=0.1, smooth=0, lip=True)


def rounded_box(half: np.ndarray, rows: int = 14, cols: int = 24):
    """A closed rounded box with half-sizes ``half`` (3,) cm about the origin (see
    ``BOX_EXPONENT``): vertices (N, 3), faces (F, 3) outward, uv (N, 2)."""
    unit, faces, uv = ellipsoid(rows, cols)
    return np.sign(unit) * np.abs(unit) ** BOX_EXPONENT * half, faces, uv


def lean_line(heights: np.ndarray, reach: np.ndarray) -> tuple[float, float]:
    """(z0, slope): the line ``z = z0 + slope * h`` (|slope| <= ``MAX_LEAN``) lying on or
    beyond every ``reach`` (N,) at ``heights`` (N,) with the least mean gap: the inner face of
    a bag leaning on a surface whose outermost extent at each height is ``reach``."""
    slopes = np.linspace(-MAX_LEAN, MAX_LEAN, 49)
    z0 = (reach[None] - slopes[:, None] * heights[None]).max(axis=1)
    gap = (z0[:, None] + slopes[:, None] * heights[None] - reach[None]).mean(axis=1)
    best = int(np.argmin(gap + 1e-9 * np.abs(slopes)))  # ties: the most upright
    return float(z0[best]), float(slopes[best])


def bag_frame(body: Body, g: Garment) -> tuple[np.ndarray, float]:
    """((4, 3) posed frame whose third axis points out of the body through the bag, height
    of the bag's centre in it (cm)); see :func:`bag_piece`."""
    e = g.extra
    if e["side"] == 0:
        o, left, up, forward = torso_frame(body)
        shoulders = np.stack([body.joints["shoulder.L"], body.joints["shoulder.R"]])
        top = ((shoulders - o) @ up).mean() - 1.0
        return np.stack([o, -left, up, -forward]), top - 0.5 * e["height"]
    o, left, up, forward = pelvis_frame(body)
    angle = np.radians(e["angle"])
    normal = np.cos(angle) * forward + np.sin(angle) * e["side"] * left
    return np.stack([o, np.cross(up, normal), up, normal]), -e["drop"]


def bag_piece(body: Body, g: Garment, under: TrunkSurface) -> Piece:
    """A bag: a rounded box ``g.extra`` width x height x depth cm leaning ``BAG_GAP`` cm off
    the outermost surface (the trunk skin's and ``under``'s vertices; see :func:`lean_line`).
    ``g.extra["side"]`` 0: a backpack on the upper back, its top just below the shoulders;
    +-1: a shoulder bag at that hip, ``g.extra["angle"]`` degrees round from the front (90:
    the side, 180: the back), its centre ``g.extra["drop"]`` cm below the pelvis. Every
    vertex takes the weights of the skin vertex under the bag's middle, so the bag moves
    rigidly with the torso."""
    e = g.extra
    width, height, depth = e["width"], e["height"], e["depth"]
    pool = np.concatenate([body.vertices[~body.part_mask(*NOT_TRUNK)], under.vertices])
    frame, centre_up = bag_frame(body, g)
    local = to_local(frame, pool)
    local = local[(np.abs(local[:, 0]) < 0.5 * width) & (local[:, 2] > 0.0)]
    rows = np.arange(-0.5 * height, 0.5 * height + 1e-6, 2.0)
    heights, reach = [], []
    for h in rows:
        row = local[np.abs(local[:, 1] - centre_up - h) < 1.0, 2]
        if len(row):
            heights.append(h)
            reach.append(row.max())
    z0, slope = lean_line(np.array(heights), np.array(reach)) if reach else (0.0, 0.0)
    norm = np.hypot(1.0, slope)
    up, out = np.array([0.0, 1.0, slope]) / norm, np.array([0.0, -slope, 1.0]) / norm
    centre = np.array([0.0, centre_up, z0]) + (BAG_GAP + 0.5 * depth) * out
    box, faces, uv = rounded_box(0.5 * np.array([width, height, depth]))
    axes = np.stack([[1.0, 0.0, 0.0], up, out])
    verts = to_posed(frame, centre + box @ axes)
    contact = to_posed(frame, np.array([[0.0, centre_up, z0]]))
    anchor = nearest_vertices(contact, body.vertices, body.part_mask(Part.TORSO))
    return _skinned(body, verts, faces, uv, g, np.repeat(anchor, len(verts)))


def build_layer(body: Body, g: Garment, seed: int, under: TrunkSurface = EMPTY) -> Piece:
    """The piece of any garment, hood, strap or bag over the garment surface ``under``."""
    if g.kind == "hood":
        return hood_piece(body, g, under)
    if g.kind == "bag":
        return bag_piece(body, g, under)
    if g.kind == "strap":
        return strap_piece(body, g, seed, under)
    return build_garment(body, g, seed, under.vertices)


def build_outfit(body: Body, garments: tuple[Garment, ...], seeds) -> list[Piece]:
    """The pieces of ``garments`` (innermost first), each built over the trunk surface of
    those before it; ``seeds``: one int per garment."""
    pieces: list[Piece] = []
    for g, seed in zip(garments, seeds, strict=True):
        pieces.append(build_layer(body, g, int(seed), trunk_surface(body, pieces)))
    return pieces
