"""Procedural hair: a cap over the scalp above a hairline, a hanging sheet for long hair, a bun.

The hairline is a height around the head (rest pose): high at the forehead, lower above the
ears, lowest at the nape. Long styles add a thick sheet hanging straight down behind the head
(it never moves forward going down, so it falls over the neck and back instead of hugging
them); buns are ellipsoids on the back of the crown. All geometry is built on the posed body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pifuhd.body.skinned import (
    ARMS,
    HANDS,
    Body,
    HeadFrame,
    Part,
    limit_influences,
    nearest_vertices,
    unskin,
)
from pifuhd.synth.clothing import FAR, covered_region, skinned_piece
from pifuhd.synth.patterns import hair_albedo
from pifuhd.synth.surface import Piece, ellipsoid, thick_sheet
from pifuhd.synth.textures import fbm

HAIR_STYLES = ("bald", "buzz", "short", "bob", "long", "bun")
HAIR_LEAN = 2.0
"""Long hair falling over something that sticks out (a hood, a collar, a backpack) leans out
to it at most this many cm per cm of height."""


@dataclass(frozen=True)
class HairStyle:
    """A hairstyle: ``name`` (one of ``HAIR_STYLES``), hairline heights as fractions of the
    head height below the crown (front, sides, back), cap thickness and extra volume on top
    (cm), and for long styles the sheet's end below the chin (cm) and thickness."""

    name: str
    colour: tuple[float, float, float]
    colour_name: str
    front: float = 0.3
    side: float = 0.42
    back: float = 0.72
    thickness: float = 1.0
    volume: float = 0.8
    drop: float = 0.0
    sheet: float = 2.0
    seed: int = 0

    def describe(self) -> dict:
        out = {"style": self.name, "colour": self.colour_name}
        if self.drop:
            out["length_below_chin_cm"] = round(self.drop, 1)
        return out


def sample_hair(rng: np.random.Generator, colour, colour_name: str, female: float) -> HairStyle:
    """A random hairstyle; long styles are likelier when ``female`` (Anny's gender) is high."""
    p = np.array(
        [
            0.05 + 0.1 * (1 - female),
            0.12 * (1 - female) + 0.02,
            0.3 * (1 - female) + 0.08,
            0.1 + 0.15 * female,
            0.05 + 0.35 * female,
            0.03 + 0.15 * female,
        ]
    )
    name = str(rng.choice(HAIR_STYLES, p=p / p.sum()))
    u = rng.uniform
    seed = int(rng.integers(1 << 30))
    base = dict(colour=tuple(colour), colour_name=colour_name, seed=seed, front=u(0.26, 0.34))
    if name in ("bald", "buzz"):
        return HairStyle(name, **base, thickness=0.25, volume=0.0)
    if name == "short":
        return HairStyle(
            name,
            **base,
            side=u(0.38, 0.45),
            back=u(0.68, 0.78),
            thickness=u(0.6, 1.2),
            volume=u(0.3, 2.0),
        )
    if name == "bun":
        return HairStyle(
            name,
            **base,
            side=u(0.42, 0.5),
            back=u(0.7, 0.76),
            thickness=u(0.5, 0.8),
            volume=u(0.2, 0.6),
            sheet=u(3.5, 5.0),
        )
    drop = u(-2.0, 6.0) if name == "bob" else u(15.0, 40.0)
    return HairStyle(
        name,
        **base,
        side=u(0.62, 0.7),
        back=u(0.8, 0.9),
        thickness=u(0.8, 1.4),
        volume=u(0.5, 1.5),
        drop=drop,
        sheet=u(1.5, 2.5),
    )


def hairline_field(points: np.ndarray, head: HeadFrame, style: HairStyle) -> np.ndarray:
    """(N,) height (cm) of ``points`` (N, 3) (rest) below their hairline: negative = on hair."""
    d = points - head.center
    angle = np.abs(np.arctan2(d[:, 0], d[:, 2]))  # 0 at the face, pi at the back
    side = np.clip((angle - 0.7) / 0.7, 0.0, 1.0)
    back = np.clip((angle - 1.9) / 0.6, 0.0, 1.0)
    side, back = side * side * (3 - 2 * side), back * back * (3 - 2 * back)
    depth = style.front + (style.side - style.front) * side + (style.back - style.side) * back
    line = head.top - depth * head.height
    return line - points[:, 1]


def scalp_shadow(points: np.ndarray, head: HeadFrame, style: HairStyle) -> np.ndarray:
    """(N,) in [0, 1]: how much of the hair colour the scalp skin shows (buzz cuts, stubble)."""
    strength = {"bald": 0.0, "buzz": 0.8}.get(style.name, 0.6)
    return strength * np.clip(-hairline_field(points, head, style) / 1.0, 0.0, 1.0)


def _albedo(style: HairStyle):
    return lambda p, f: hair_albedo(p, style.colour, style.seed)


def _skull_centre(body: Body, head: HeadFrame) -> np.ndarray:
    """(3,) posed position of the rest head centre (moved with the nearest head vertex)."""
    anchor = nearest_vertices(head.center[None], body.rest_vertices, body.part_mask(Part.HEAD))
    weights = body.weights[anchor]
    blend = np.einsum("nj,jab->nab", weights, body.transforms[:, :3, :])[0]
    return blend[:, :3] @ head.center + blend[:, 3]


def radial_envelope(directions: np.ndarray, points: np.ndarray, cone_deg: float) -> np.ndarray:
    """(M,) for each unit direction (M, 3), the largest norm of ``points`` (P, 3) within
    ``cone_deg`` of it (0 where none): a dome over bumps such as ears."""
    from scipy.spatial import cKDTree

    norms = np.linalg.norm(points, axis=1)
    chord = 2.0 * np.sin(np.radians(cone_deg) / 2.0)
    pairs = cKDTree(directions).sparse_distance_matrix(
        cKDTree(points / norms[:, None]), chord, output_type="coo_matrix"
    )
    out = np.zeros(len(directions))
    np.maximum.at(out, pairs.row, norms[pairs.col])
    return out


def hair_cap(body: Body, head: HeadFrame, style: HairStyle) -> Piece:
    """The hair over the scalp: a dome around the skull centre that bridges over the ears,
    ``thickness`` cm out, plus ``volume`` cm on the crown."""
    rest = body.rest_vertices
    field_ = np.where(body.part_mask(Part.HEAD, Part.NECK), hairline_field(rest, head, style), FAR)
    sub, faces = covered_region(body, field_)
    centre = _skull_centre(body, head)
    d = sub(body.vertices) - centre
    r = np.linalg.norm(d, axis=1)
    dirs = d / r[:, None]
    pool = body.vertices[body.part_mask(Part.HEAD, Part.NECK)] - centre
    radius = np.maximum(r, radial_envelope(dirs, pool, 9.0))
    edges = np.unique(
        np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1), axis=0
    )
    for _ in range(4):
        acc, count = radius.copy(), np.ones(len(radius))
        np.add.at(acc, edges[:, 0], radius[edges[:, 1]])
        np.add.at(acc, edges[:, 1], radius[edges[:, 0]])
        np.add.at(count, edges.ravel(), 1.0)
        radius = np.maximum(acc / count, r)
    up = np.clip(dirs[:, 1], 0.0, 1.0)
    rest_base = sub(rest)
    radius += style.thickness + style.volume * up**2 + 0.3 * fbm(rest_base, 5.0, style.seed, 2)
    piece = skinned_piece(
        body,
        sub,
        centre + dirs * radius[:, None],
        faces,
        f"{style.name} hair",
        "hair",
        _albedo(style),
    )
    piece.info = style.describe()
    return piece


def _head_axes(body: Body) -> tuple[np.ndarray, np.ndarray]:
    """Posed forward (3,) and left (3,) unit vectors of the head, level (y = 0)."""
    eyes = body.vertices[body.parts == Part.EYE]
    if len(eyes) == 0:
        eyes = body.vertices[body.parts == Part.HEAD]
    mid = eyes[:, 0].mean()
    left = eyes[eyes[:, 0] >= mid].mean(0) - eyes[eyes[:, 0] < mid].mean(0)
    left[1] = 0.0
    left /= np.linalg.norm(left)
    return np.cross(left, [0.0, 1.0, 0.0]), left


def hair_sheet(
    body: Body,
    head: HeadFrame,
    style: HairStyle,
    cols: int = 24,
    rows: int = 36,
    over: np.ndarray | None = None,
) -> Piece:
    """Long hair hanging behind the head: a slab ``style.sheet`` cm thick from the crown to
    ``style.drop`` cm below the chin. Each row follows the back of the head (a little out)
    until the head's widest and backmost extent, then hangs straight down, over the body and
    the posed points ``over`` (M, 3) (garments, hoods, backpacks); rows above something that
    sticks out lean out to it, ``HAIR_LEAN`` cm per cm up at most."""
    centre = _skull_centre(body, head)
    forward, left = _head_axes(body)
    limbs = body.part_mask(*ARMS, *HANDS)
    pool = np.concatenate([body.vertices[~limbs], np.zeros((0, 3)) if over is None else over])
    local = np.stack([(pool - centre) @ left, pool[:, 1], (pool - centre) @ forward], axis=1)
    head_local = local[: int((~limbs).sum())][body.parts[~limbs] == Part.HEAD]
    top = centre[1] + 0.25 * head.height
    bottom = head.chin + (centre[1] - head.center[1]) - style.drop
    ys = np.linspace(top, bottom, rows)
    s = np.linspace(-1.0, 1.0, cols)
    gap = style.thickness + 0.3
    half, depth = 1.0, np.full(cols, -1.0)
    outer = np.zeros((rows, cols, 3))
    depths = np.zeros((rows, cols))
    for r, y in enumerate(ys):
        band = head_local[np.abs(head_local[:, 1] - y) < 1.5]
        if len(band):
            half = max(half, np.abs(band[:, 0]).max() + gap)
        xs = s * half
        near = local[np.abs(local[:, 1] - y) < 1.5]
        for c, x in enumerate(xs):
            column = near[np.abs(near[:, 0] - x) < 1.5, 2]
            if len(column):
                depth[c] = min(depth[c], column.min())
        # the bottom rounds off: the middle hangs lower
        drop = 3.0 * (1.0 - s**2) * (r / (rows - 1))
        outer[r] = np.stack([xs, np.full(cols, y) - drop, depth - gap - style.sheet], axis=1)
        depths[r] = depth
    for r in range(rows - 2, -1, -1):  # lean out toward what sticks out lower down
        depths[r] = np.minimum(depths[r], depths[r + 1] + HAIR_LEAN * (ys[r] - ys[r + 1]))
    outer[..., 2] = depths - gap - style.sheet
    inner = outer.copy()
    inner[..., 2] += style.sheet
    local_verts, faces, uv = thick_sheet(outer[:, ::-1], inner[:, ::-1])
    verts = centre + local_verts[:, :1] * left + local_verts[:, 2:] * forward
    verts[:, 1] = local_verts[:, 1]
    anchors = nearest_vertices(
        verts, body.vertices, body.part_mask(Part.HEAD, Part.NECK, Part.TORSO)
    )
    weights = limit_influences(body.weights[anchors])
    rest = unskin(verts, weights, body.transforms)
    return Piece(
        f"{style.name} hair (sheet)",
        "hair",
        verts,
        rest,
        faces,
        uv,
        weights,
        _albedo(style),
        info=style.describe(),
    )


def hair_bun(body: Body, head: HeadFrame, style: HairStyle) -> Piece:
    """A bun: an ellipsoid of radius ``style.sheet`` cm on the back of the crown."""
    centre = _skull_centre(body, head)
    forward, left = _head_axes(body)
    up = np.array([0.0, 1.0, 0.0])
    direction = 0.55 * up - 0.85 * forward
    direction /= np.linalg.norm(direction)
    head_pts = body.vertices[body.parts == Part.HEAD]
    reach = ((head_pts - centre) @ direction).max() + style.thickness
    r = style.sheet
    unit, faces, uv = ellipsoid(10, 16)
    axes = np.stack([left, np.cross(direction, left), direction])  # rows: local x, y, z
    radii = np.array([r, r, 0.75 * r])
    pole_along_z = np.stack([unit[:, 0], -unit[:, 2], unit[:, 1]], axis=1)  # a rotation
    verts = centre + direction * (reach + 0.45 * r) + (pole_along_z * radii) @ axes
    anchors = nearest_vertices(verts, body.vertices, body.part_mask(Part.HEAD))
    weights = limit_influences(body.weights[anchors])
    rest = unskin(verts, weights, body.transforms)
    return Piece(
        "hair bun", "hair", verts, rest, faces, uv, weights, _albedo(style), info=style.describe()
    )


def build_hair(
    body: Body, head: HeadFrame, style: HairStyle, over: np.ndarray | None = None
) -> list[Piece]:
    """The hair pieces of ``style`` (none for bald and buzz cuts: the skin texture shows them);
    long hair hangs over the posed points ``over`` (M, 3) (see :func:`hair_sheet`)."""
    if style.name in ("bald", "buzz"):
        return []
    pieces = [hair_cap(body, head, style)]
    if style.name in ("bob", "long"):
        pieces.append(hair_sheet(body, head, style, over=over))
    if style.name == "bun":
        pieces.append(hair_bun(body, head, style))
    return pieces
