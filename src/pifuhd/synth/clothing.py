"""Procedural garments: shells offset from covered body regions, and shoes (skirts: ``skirts``).

A shell garment is the part of the posed body where its coverage field is negative, cut
exactly along the field's zero level and pushed out along smoothed normals by ``offset`` cm
(plus a small noisy "drape"). Skirts are closed flared tubes around the hips and both legs.
Coverage fields are read on the rest pose (cm-like units: the limb fields are scaled by a
typical segment length), so a garment covers the same skin whatever the pose; geometry is
built on the posed body, then taken back to the rest pose by inverse skinning with the
garment's weights (those of the body points it was built from), so ``rest.obj`` animates
back to ``mesh.obj`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pifuhd.body.skinned import (
    ARMS,
    FEET,
    LEGS,
    Body,
    Part,
    leg_gap,
    limit_influences,
    unskin,
)
from pifuhd.synth.patterns import ClothStyle, cloth_albedo
from pifuhd.synth.surface import (
    Lerp,
    Piece,
    clip_by_field,
    compact,
    drop_small_components,
    face_components,
    lip_faces,
    push_to_hull,
    smooth_outside,
    weld_ids,
)
from pifuhd.synth.textures import fbm

ARM_CM = 56.0
"""cm per unit of ``arm_t`` (shoulder to wrist is about 0 -> 1 for 56 cm)."""
LEG_CM = 90.0
"""cm per unit of ``leg_t``."""
FAR = 100.0
"""Field value of parts a garment never covers."""
WIDE_FLARE = 3.0
"""cm per unit ``leg_t``: trousers flaring more (wide legs) get a lip closing their hems."""
LEG_MARGIN = 0.5
"""cm: wide trouser legs stop this far short of meeting halfway to the other leg."""


@dataclass(frozen=True)
class Garment:
    """One garment. Heights are rest-pose cm above the hip joints; lengths along limbs are
    ``arm_t`` / ``leg_t`` values (see :class:`~pifuhd.body.skinned.Body`).

    Attributes:
        name: "t-shirt", "jeans", ...; kind: "top", "bottom", "skirt", "shoes".
        offset: distance from the skin (cm); for skirts the ease at the waist.
        style: its fabric.
        sleeve: top: ``arm_t`` where sleeves end (negative: sleeveless).
        hem: top: hem height; bottom/skirt: waistband height.
        neck: top: neckline depth below the neck joint at the front (cm).
        length: bottom: ``leg_t`` of the leg hems; skirt: length below the waistband (cm);
            shoes: ``leg_t`` of the shoe's top.
        flare: bottom: extra offset per unit ``leg_t``; skirt: radius gain per cm down.
        open_front: top: half-width (cm) of an open front (jackets), 0 = closed.
        hides_skin: drop the body faces it covers (shells only).
        layered: skirt: enclose the garments under it too, not only the body (coats).
        extra: more numbers of some kinds (shoes' soles; hoods', bags' and straps' sizes).
    """

    name: str
    kind: str
    offset: float
    style: ClothStyle
    sleeve: float = -1.0
    hem: float = 0.0
    neck: float = 2.0
    length: float = 1.0
    flare: float = 0.0
    open_front: float = 0.0
    hides_skin: bool = True
    extra: dict = field(default_factory=dict)
    layered: bool = False

    def describe(self) -> dict:
        keys = ("name", "kind", "offset", "sleeve", "hem", "neck", "length", "flare", "open_front")
        pairs = [(k, getattr(self, k)) for k in keys] + sorted(self.extra.items())
        out = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in pairs}
        return {**out, "fabric": self.style.describe()}


def _per_part(body: Body, values: dict[Part, np.ndarray | float]) -> np.ndarray:
    field_ = np.full(len(body.parts), FAR)
    for part, value in values.items():
        mask = body.parts == part
        field_[mask] = value[mask] if isinstance(value, np.ndarray) else value
    return field_


def top_field(body: Body, g: Garment) -> np.ndarray:
    """(V,) coverage field of a top (negative = covered): torso from the hem to the neckline,
    sleeves to ``arm_t = g.sleeve``, an optional open front."""
    rest, j = body.rest_vertices, body.rest_joints
    y = rest[:, 1]
    hem_y = 0.5 * (j["hip.L"][1] + j["hip.R"][1]) + g.hem
    neck = j["neck"]
    d = rest - neck
    front = np.clip(d[:, 2] / np.maximum(np.hypot(d[:, 0], d[:, 2]), 1e-6), 0.0, 1.0) ** 2
    neckline = neck[1] - 1.5 - g.neck * front
    trunk = np.maximum(hem_y - y, y - neckline)
    if g.open_front > 0:
        ahead = rest[:, 2] > j["chest"][2]
        trunk = np.where(ahead, np.maximum(trunk, g.open_front - np.abs(rest[:, 0])), trunk)
    sleeve = (body.arm_t - g.sleeve) * ARM_CM if g.sleeve >= 0 else np.full(len(y), 1.0)
    values = {Part.TORSO: trunk, Part.NECK: trunk, **{p: trunk for p in LEGS}}
    values.update({p: sleeve for p in ARMS})
    return _per_part(body, values)


def bottom_field(body: Body, g: Garment) -> np.ndarray:
    """(V,) coverage field of trousers/shorts: below the waistband, legs to ``leg_t = g.length``."""
    j = body.rest_joints
    waist_y = 0.5 * (j["hip.L"][1] + j["hip.R"][1]) + g.hem
    legs = (body.leg_t - g.length) * LEG_CM
    values = {Part.TORSO: body.rest_vertices[:, 1] - waist_y, **{p: legs for p in LEGS}}
    return _per_part(body, values)


def shoes_field(body: Body, g: Garment) -> np.ndarray:
    """(V,) coverage field of shoes: the feet and the legs below ``leg_t = g.length``."""
    legs = (g.length - body.leg_t) * LEG_CM
    return _per_part(body, {**{p: legs for p in LEGS}, **{p: -FAR for p in FEET}})


COVERAGE = {"top": top_field, "bottom": bottom_field, "shoes": shoes_field}


def coverage(body: Body, g: Garment) -> np.ndarray:
    """(V,) the coverage field of a shell garment (negative = covered)."""
    return COVERAGE[g.kind](body, g)


def covered_region(body: Body, field_: np.ndarray) -> tuple[Lerp, np.ndarray]:
    """The body surface where ``field_`` (V,) is negative, cut along its zero level, without
    crumbs (components under 2 % of the area): (vertices as blends of body vertices, faces)."""
    lerp, faces = clip_by_field(body.faces, field_)
    keep = drop_small_components(lerp(body.vertices), faces)
    used, faces = compact(faces[keep])
    return Lerp(lerp.a[used], lerp.b[used], lerp.t[used]), faces


def offset_shell(
    body: Body,
    field_: np.ndarray,
    offset: np.ndarray | float,
    *,
    name: str,
    kind: str,
    albedo,
    seed: int,
    drape: float = 0.35,
    sole: float = 0.0,
    smooth: int = 3,
    convex: bool = False,
    lip: bool = False,
) -> Piece:
    """The covered part of the posed body, pushed outward along smoothed normals.

    Args:
        body: the body; field_: (V,) coverage field (negative = covered).
        offset: cm, scalar or (V,) per body vertex.
        drape: amplitude (cm) of a smooth noisy extra offset, so fabric does not look painted.
        sole: extra offset (cm) where the normal points down (shoe soles).
        smooth: rounds of smoothing (bridging folds), never closer than 70 % of the offset
            to the skin.
        convex: push the shell out onto its convex hull (shoes: over toes and arches).
        lip: fold the rims in onto the skin (see :func:`~pifuhd.synth.surface.lip_faces`),
            closing wide openings (wide trouser hems) for inside/outside labels.
    Returns:
        The piece; its uv is the body's, its weights the blended weights of its body points.
    """
    sub, faces = covered_region(body, field_)
    n = sub(body.normals(smooth_iterations=4))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    rest_base = sub(body.rest_vertices)
    d = sub(np.broadcast_to(np.asarray(offset, np.float64), field_.shape))
    d = d + drape * (0.5 + 0.5 * fbm(rest_base, 7.0, seed, octaves=2))
    d = d + sole * np.clip(-n[:, 1], 0.0, 1.0) ** 2
    base = sub(body.vertices)
    posed = smooth_outside(
        base + d[:, None] * n,
        base,
        n,
        faces,
        weld_ids(sub, body.weld),
        smooth,
        0.7 * d,
    )
    if convex:  # one hull per shoe, and one for the shaft of boots above the ankle
        ids = weld_ids(sub, body.weld)
        labels = np.zeros(len(posed), np.int64)
        labels[faces.ravel()] = 2 * np.repeat(face_components(ids[faces]), 3)
        labels += sub(body.leg_t) < 1.0
        for label in np.unique(labels):
            mine = labels == label
            posed[mine] = push_to_hull(posed[mine], n[mine])
    else:
        posed = keep_clear(posed, body, np.minimum(0.5 * d, 0.4))
    if lip:
        rim, faces = lip_faces(faces, weld_ids(sub, body.weld))
        posed = np.concatenate([posed, base[rim] - 0.2 * n[rim]])
        sub = Lerp(*(np.concatenate([x, x[rim]]) for x in (sub.a, sub.b, sub.t)))
    return skinned_piece(body, sub, posed, faces, name, kind, albedo)


def keep_clear(
    points: np.ndarray, body: Body, clearance: np.ndarray, iterations: int = 4
) -> np.ndarray:
    """Push points (N, 3) out of the posed skin: each ends at least ``clearance`` (N,) cm
    above the tangent plane of its nearest skin vertex (strongly curved skin, creases)."""
    from scipy.spatial import cKDTree

    weld_first = np.unique(body.weld, return_index=True)[1]
    skin_points = body.vertices[weld_first]
    skin_normals = body.normals()[weld_first]
    tree = cKDTree(skin_points)
    for _ in range(iterations):
        nearest = tree.query(points)[1]
        normal = skin_normals[nearest]
        short = clearance - np.einsum("ij,ij->i", points - skin_points[nearest], normal)
        if (short <= 1e-9).all():
            break
        points = points + np.clip(short, 0.0, None)[:, None] * normal
    return points


def skinned_piece(
    body: Body, sub: Lerp, posed: np.ndarray, faces: np.ndarray, name: str, kind: str, albedo
) -> Piece:
    """A piece at ``posed`` built from body points ``sub``: their uv and blended weights, and
    the rest positions that skin back to ``posed``."""
    weights = limit_influences(sub(body.weights))
    rest = unskin(posed, weights, body.transforms)
    return Piece(name, kind, posed, rest, faces, sub(body.uv), weights, albedo)


def shell_garment(body: Body, g: Garment, seed: int) -> Piece:
    """A top, bottom or shoes as an :func:`offset_shell` textured with its fabric."""
    field_ = coverage(body, g)
    offset: np.ndarray | float = g.offset
    if g.kind == "bottom" and g.flare:
        offset = g.offset + g.flare * np.clip(body.leg_t, 0.0, 1.0) ** 2
        if g.flare >= WIDE_FLARE:
            offset = np.minimum(offset, np.maximum(leg_gap(body) - LEG_MARGIN, g.offset))
    return fabric_shell(
        body,
        g,
        field_,
        offset,
        seed,
        sole=g.extra.get("sole", 0.0),
        drape=0.15 if g.kind == "shoes" else 0.35,
        smooth=6 if g.kind == "shoes" else 3,
        convex=g.kind == "shoes",
        lip=g.kind == "bottom" and g.flare >= WIDE_FLARE,
    )


def fabric_shell(
    body: Body, g: Garment, field_: np.ndarray, offset: np.ndarray | float, seed: int, **shape
) -> Piece:
    """:func:`offset_shell` of garment ``g`` (its name, its fabric as albedo, its description
    as the piece's info); ``shape``: the shell's other keyword arguments (drape, smooth, ...)."""
    style = g.style
    piece = offset_shell(
        body,
        field_,
        offset,
        name=g.name,
        kind="cloth",
        albedo=lambda p, f: cloth_albedo(p, style),
        seed=seed,
        **shape,
    )
    piece.info = g.describe()
    return piece


def hidden_skin(body: Body, garments: list[Garment], margin: float = 2.0) -> np.ndarray:
    """(F,) bool: body faces lying ``margin`` cm (field units) inside a skin-hiding shell."""
    hidden = np.zeros(len(body.faces), bool)
    for g in garments:
        if g.kind in COVERAGE and g.hides_skin:
            hidden |= (coverage(body, g)[body.faces] < -margin).all(axis=1)
    return hidden
