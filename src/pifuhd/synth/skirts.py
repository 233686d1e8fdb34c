"""Flared skirts: closed tubes around the hips and both legs (and the garments beneath a
layered skirt), hanging from the waistband, skinned to the pelvis; and ``build_garment``,
which makes any garment (shells and shoes: ``pifuhd.synth.clothing``)."""

from __future__ import annotations

import numpy as np

from pifuhd.body.skinned import ARMS, HANDS, Body, Part, limit_influences, nearest_vertices, unskin
from pifuhd.synth.clothing import Garment, shell_garment
from pifuhd.synth.patterns import cloth_albedo
from pifuhd.synth.surface import Piece, closed_tube, radial_hull


def skirt_rings(
    body: Body,
    g: Garment,
    seed: int,
    around: int = 72,
    step: float = 2.0,
    under: np.ndarray | None = None,
) -> np.ndarray:
    """(K, N, 3) rings of a flared skirt, top (waistband) to hem, in posed space.

    Each ring encloses the hips and both legs (and the points ``under`` (M, 3), posed, of
    garments beneath a layered skirt) at its height with ``g.offset`` ease growing by
    ``g.flare`` per cm down; radii never shrink going down, so the skirt hangs and bridges
    the legs; soft folds deepen toward the hem.
    """
    j, rj = body.joints, body.rest_joints
    lift = 0.5 * (j["hip.L"][1] + j["hip.R"][1]) - 0.5 * (rj["hip.L"][1] + rj["hip.R"][1])
    top = 0.5 * (rj["hip.L"][1] + rj["hip.R"][1]) + g.hem + lift
    heights = np.arange(top, top - g.length - 1e-6, -step)
    angles = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    pool = body.vertices[~body.part_mask(*ARMS, *HANDS, Part.HEAD, Part.EYE)]
    if under is not None:
        pool = np.concatenate([pool, under])
    centre = np.array([j["root"][0], j["root"][2]])
    rng = np.random.default_rng(seed)
    folds, phase, depth = (
        int(rng.integers(7, 14)),
        rng.uniform(0, 2 * np.pi),
        rng.uniform(0.02, 0.06),
    )
    radius = np.zeros(around)
    rings = []
    for k, y in enumerate(heights):
        slab = pool[np.abs(pool[:, 1] - y) < step]
        if len(slab):
            hull = radial_hull(slab[:, [0, 2]] - centre, angles)
            radius = np.maximum(radius, hull + g.offset + g.flare * (top - y))
        smooth = np.convolve(
            np.concatenate([radius[-3:], radius, radius[:3]]), np.ones(7) / 7, "valid"
        )
        radius = np.maximum(radius, smooth)
        fold = 1.0 + depth * (k / max(len(heights) - 1, 1)) * np.sin(folds * angles + phase)
        r = radius * fold
        rings.append(
            np.stack(
                [
                    centre[0] + r * np.sin(angles),
                    np.full(around, y),
                    centre[1] + r * np.cos(angles),
                ],
                axis=1,
            )
        )
    lip = rings[-1].copy()
    lip[:, [0, 2]] = centre + (lip[:, [0, 2]] - centre) * 0.96
    lip[:, 1] += 1.0
    return np.stack([*rings, lip])


def skirt_garment(body: Body, g: Garment, seed: int, under: np.ndarray | None = None) -> Piece:
    """A flared skirt as a closed tube (waistband and hem capped, the hem slightly recessed),
    around ``under`` (M, 3) too when given (see :func:`skirt_rings`).

    Each column of the tube takes the skinning weights of the torso vertex nearest to its
    waistband point, so it follows the pelvis.
    """
    rings = skirt_rings(body, g, seed, under=under)
    verts, faces, uv = closed_tube(rings)
    torso = body.part_mask(Part.TORSO)
    n_around = rings.shape[1]
    anchors = nearest_vertices(rings[0], body.vertices, torso)  # (N,)
    column = np.concatenate([np.tile(np.append(np.arange(n_around), 0), len(rings)), [0, 0]])
    weights = limit_influences(body.weights[anchors[column]])
    rest = unskin(verts, weights, body.transforms)
    style = g.style
    return Piece(
        g.name,
        "cloth",
        verts,
        rest,
        faces,
        uv,
        weights,
        lambda p, f: cloth_albedo(p, style),
        info=g.describe(),
    )


def build_garment(body: Body, g: Garment, seed: int, under: np.ndarray | None = None) -> Piece:
    """The piece of a top, bottom, skirt or shoes; ``under`` (M, 3): posed trunk points of
    the garments beneath, which layered skirts enclose."""
    if g.kind == "skirt":
        return skirt_garment(body, g, seed, under if g.layered else None)
    return shell_garment(body, g, seed)
