"""Vertex colours of a surface from one photo: the photo where the camera sees the surface, the
colour net where it does not, and a blend over a band at the seam (``--texture blend``).

- ``photo``: each vertex takes the crop's colour at its projection (orthographic along z:
  cube ``(x, y)`` -> ``grid_sample`` coordinates ``(x, -y)``, the fine image's pixel centres,
  ``docs/conventions.md``). Where the person mask is known, the pixels outside it and in a
  thin band inside its edge (``EDGE_SHARE``) take the colour of the nearest pixel within
  (``person_image``): at the silhouette a pixel mixes the person with the background or the
  fill, and the vertices there (the sides, and the back's rim, which projects onto the same
  pixels) would take that mix. A hidden vertex (a ray toward the camera hits the surface) gets the
  colour of the surface in front of it: the front is copied onto the back. (Taking the nearest
  seen vertex's colour instead painted the back with blotches from the silhouette's edges.)
  With ``delight``, the colour is divided by the shading that the vertex normals and a light
  fitted to the seen vertices imply (a second-order spherical-harmonics irradiance on the
  luminance, least squares; Ramamoorthi & Hanrahan 2001), so a shadow is not painted on.
- ``net``: the colour net's albedo at every vertex (``pifuhd.models.color``).
- ``blend`` (the default): ``w * (a * net + (1 - a) * photo') + (1 - w) * (b * net + (1 - b) *
  photo')``. ``w`` is the photo's weight: 1 where the surface faces the camera, falling to 0 as
  it turns away (``FACING``) and at the edge of what the camera sees. It is then averaged over
  the mesh's neighbours ``SEAM_ROUNDS`` times, so no edge shows, and kept 0 where the camera
  does not see the surface. The net's shares ``a`` (seen) and ``b`` (hidden) follow the photo's
  light: how harsh it is (``pifuhd.photo_light.light_harshness``, judged from the well-seen
  vertices) moves them from ``CLEAR_SHARES`` (soft light: the photo is nearly the albedo) to
  ``HARSH_SHARES`` (directional or coloured light: the photo is far from it), and in the same
  measure ``photo'`` moves from the photo to the photo relit by the net (``net_relit``: divided,
  channel by channel, by the coloured light that turns the net's albedo into the photo; the
  net's colour balance and light, the photo's detail). The hidden side's colours (the second
  term) are averaged over the surface within about ``HIDDEN_BLUR``, each vertex with the
  neighbours of like colour (``HIDDEN_CONTRAST``), so garment boundaries stay sharp
  (``smooth_over``).

All colours are sRGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import trimesh
from scipy import ndimage, sparse
from scipy.stats import binom

from pifuhd.eval.color_metrics import srgb_to_lab
from pifuhd.geometry.normal_refine import visible_from
from pifuhd.photo_light import (
    LUMA,
    MIN_SEEN,
    light_harshness,
    net_irradiance,
    sh_basis,
)

TEXTURE_MODES = ("blend", "photo", "net")
Smoother = Callable[[np.ndarray], np.ndarray]
FACING = (0.15, 0.5)
"""Photo weight ramp over the normal's z (toward the camera): 0 at or below the first value,
1 at or above the second; grazing surfaces smear the photo."""
CLEAR_SHARES = (0.1, 0.4)
"""The net's shares (where the photo sees the surface, where it does not) under soft light."""
HARSH_SHARES = (0.75, 0.95)
"""The net's shares under harsh light. Both pairs, and ``pifuhd.photo_light``'s ramps, were
chosen on 15 validation people (``pifuhd synth 5 --seed 6000`` and ``pifuhd synth 10 --seed
7000``) x 4 yaws x 3 lights with the bundled colour net (session 39's, correcting the sharp
photo), by the worst of the six light x geometry PATD cells against the photo alone and the
net alone.
BENCHMARKS.md has the searches."""
WELL_SEEN = 0.5
"""Photo weight above which a vertex counts as well seen (the light fits)."""
SEAM_ROUNDS = 4
"""Rounds of neighbour averaging of the photo weight (the blend band's width, in edges)."""
SHADING_RANGE = (0.35, 2.5)
"""Relative shading clipped to this range before dividing (deep creases, highlights)."""
HIDDEN_BLUR = 0.15
"""Length, in cube units (the cube's half side is about 1 m of the person; this is about
15 cm), over which the hidden side's colours are averaged (``smooth_over``): what lies behind
the person is a guess, and a local mean of the guess is closer to the truth on average than a
sharp copy of the front (the face on the back of the head, the front's shading)."""
HIDDEN_CONTRAST = 10.0
"""CIELAB distance that the hidden side's averaging respects (``smooth_over``): neighbours
this far apart in colour weigh exp(-1/2) of alike ones, so the boundaries between garments stay
sharp (PIPATD, the best of k neighbours, punishes a blurred boundary). This and ``HIDDEN_BLUR``
were chosen on the 15 validation people (session 40, BENCHMARKS.md) among plain means over
0.025-0.15 and contrasts 7, 10, 15 and 20 over 0.05-0.2, by the worst of the twelve light x
geometry x (PATD, PIPATD) margins over the photo alone and the net alone: 0.15 / 10 tied
second (0.39) with the best worst PATD margin (0.65). The first, 0.15 / 7 (0.45), kept the
face on the back of a real person's head."""
EDGE_SHARE = 8 / 1024
"""Width of the band inside the person mask's edge whose pixels are not used, as a share of
the crop's side (8 pixels of the 1024-pixel fine crop). Chosen on the 5 validation people
(seed 6000) among 0, 4, 8, 12 and 16 pixels (session 38, BENCHMARKS.md)."""


@dataclass
class PhotoEvidence:
    """What colours a surface from one photo.

    image: (S, S, 3) float32 crop of the photo at the fine level's size, sRGB in [0, 1].
    net: the colour net, cube vertices (V, 3) -> sRGB (V, 3) in [0, 1]; None without one.
        A ``light_aware`` net also takes the photo's harshness in [0, 1] as its second
        argument (``pifuhd.models.color.ColorConfig.light_input``; without it: harsh).
    """

    image: np.ndarray
    net: Callable[..., np.ndarray] | None = None
    light_aware: bool = False


def person_image(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(S, S, 3) ``image`` whose pixels outside the (S, S) bool person ``mask`` shrunk by
    ``EDGE_SHARE`` take the colour of the nearest pixel within (module docstring). The image
    unchanged when the mask is empty; the unshrunk mask when shrinking empties it."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match the image {image.shape[:2]}")
    width = round(EDGE_SHARE * image.shape[0])
    inside = ndimage.distance_transform_edt(mask) > width
    if not inside.any():
        inside = mask
    if not inside.any():
        return image
    _, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    return image[rows, cols]


def sample_image(image: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(V, 3) bilinear samples of an (S, S, 3) crop at the projections of cube vertices."""
    grid = torch.from_numpy(np.stack([vertices[:, 0], -vertices[:, 1]], 1).astype(np.float32))
    picture = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    values = F.grid_sample(
        picture[None], grid[None, :, None, :], mode="bilinear", align_corners=True
    )
    return values[0, :, :, 0].T.numpy()


def relative_shading(normals: np.ndarray, colors: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(V,) the shading at each vertex relative to the seen vertices' median: a second-order
    SH irradiance fitted (least squares) to the seen vertices' luminance, clipped to
    ``SHADING_RANGE``. Ones when fewer than 50 vertices are seen."""
    if seen.sum() < 50:
        return np.ones(len(normals))
    basis = sh_basis(normals)
    coeffs, *_ = np.linalg.lstsq(basis[seen], colors[seen] @ LUMA, rcond=None)
    shading = basis @ coeffs
    reference = np.median(shading[seen])
    if reference <= 1e-6:
        return np.ones(len(normals))
    return np.clip(shading / reference, *SHADING_RANGE)


def neighbour_mean(values: np.ndarray, edges: np.ndarray, count: int) -> np.ndarray:
    """(V,) mean over each vertex and its neighbours (``edges`` (E, 2) unique), ``count``
    times."""
    degree = np.bincount(edges.ravel(), minlength=len(values)) + 1.0
    for _ in range(count):
        total = values.copy()
        np.add.at(total, edges[:, 0], values[edges[:, 1]])
        np.add.at(total, edges[:, 1], values[edges[:, 0]])
        values = total / degree
    return values


def photo_weight(mesh: trimesh.Trimesh, seen: np.ndarray) -> np.ndarray:
    """(V,) the photo's weight in the blend (module docstring), in [0, 1]."""
    low, high = FACING
    facing = np.clip((np.asarray(mesh.vertex_normals)[:, 2] - low) / (high - low), 0.0, 1.0)
    weight = facing * seen
    smoothed = neighbour_mean(weight, np.asarray(mesh.edges_unique), SEAM_ROUNDS)
    # averaging only lowers a weight: the band lies inside what is seen, and hidden stays 0
    return np.minimum(weight, smoothed)


def photo_colors(
    mesh: trimesh.Trimesh, image: np.ndarray, seen: np.ndarray, delight: bool = False
) -> np.ndarray:
    """(V, 3) the photo's colours at every vertex's projection (module docstring); divided
    by the fitted shading with ``delight`` (the light fitted to the ``seen`` vertices)."""
    colors = sample_image(image, np.asarray(mesh.vertices)).astype(np.float64)
    if delight:
        normals = np.asarray(mesh.vertex_normals)
        colors = colors / relative_shading(normals, colors, seen)[:, None]
    return np.clip(colors, 0.0, 1.0)


def surface_colors(
    mesh: trimesh.Trimesh,
    evidence: PhotoEvidence,
    mode: str = "blend",
    delight: bool = False,
    shares: tuple[float, float] | None = None,
    harshness: float | None = None,
) -> np.ndarray:
    """(V, 3) float32 sRGB vertex colours of a cube-frame mesh by ``mode`` (module
    docstring). ``shares``: fixed net shares (where the photo sees the surface, where it does
    not) for the blend, in place of the ones the photo's light chooses. ``harshness``: the
    light's harshness in [0, 1] as judged already (e.g. from the reconstruction of the same
    photo, to colour another mesh of it alike); by default it is judged on this mesh.

    Raises:
        ValueError: an unknown mode, or "net" / "blend" without a colour net.
    """
    if mode not in TEXTURE_MODES:
        raise ValueError(f"texture mode must be one of {', '.join(TEXTURE_MODES)}, not {mode!r}")
    vertices = np.asarray(mesh.vertices)
    if mode != "photo" and evidence.net is None:
        raise ValueError(f"texture mode {mode!r} needs a colour net")
    if mode == "net" and not evidence.light_aware:
        return evidence.net(vertices).astype(np.float32)  # type: ignore[misc]
    seen = visible_from(mesh, 1.0)
    photo = photo_colors(mesh, evidence.image, seen, delight)
    if mode == "photo":
        return photo.astype(np.float32)
    weight = photo_weight(mesh, seen)
    net = evidence.net(vertices).astype(np.float64)  # type: ignore[misc]
    smooth = smooth_over(mesh)
    if shares is not None and not evidence.light_aware:
        return blend_colors(weight, photo, net, shares, smooth).astype(np.float32)
    raw = photo_colors(mesh, evidence.image, seen) if delight else photo
    normals = np.asarray(mesh.vertex_normals)
    if harshness is None:
        harshness = light_harshness(raw, net, normals, weight > WELL_SEEN)
    if evidence.light_aware:  # the net again, told the light
        net = evidence.net(vertices, harshness).astype(np.float64)  # type: ignore[misc]
    if mode == "net":
        return net.astype(np.float32)
    if shares is not None:
        return blend_colors(weight, photo, net, shares, smooth).astype(np.float32)
    blend, _ = light_blend(weight, photo, net, normals, raw, harshness, smooth)
    return blend.astype(np.float32)


def judge_light(mesh: trimesh.Trimesh, evidence: PhotoEvidence) -> float:
    """The harshness in [0, 1] of the photo's light as ``surface_colors``' blend judges it on a
    cube-frame mesh (``pifuhd.photo_light.light_harshness`` over its well-seen vertices).

    Raises:
        ValueError: without a colour net.
    """
    if evidence.net is None:
        raise ValueError("judging the light needs a colour net")
    seen = visible_from(mesh, 1.0)
    vertices = np.asarray(mesh.vertices)
    well_seen = photo_weight(mesh, seen) > WELL_SEEN
    photo = photo_colors(mesh, evidence.image, seen)
    net = evidence.net(vertices).astype(np.float64)
    return light_harshness(photo, net, np.asarray(mesh.vertex_normals), well_seen)


def light_blend(
    weight: np.ndarray,
    photo: np.ndarray,
    net: np.ndarray,
    normals: np.ndarray,
    raw: np.ndarray | None = None,
    harshness: float | None = None,
    smooth: Smoother | None = None,
) -> tuple[np.ndarray, float]:
    """The blend that follows the photo's light (module docstring): ((V, 3) colours, the
    light's harshness). weight: (V,) ``photo_weight``; photo, net: (V, 3) sRGB; normals: (V, 3)
    unit; raw: the photo's colours before any delighting (the light is judged by them), by
    default ``photo``; harshness: judged already (``surface_colors``), by default here;
    smooth: averages the hidden side's colours (``blend_colors``)."""
    well_seen = weight > WELL_SEEN
    if harshness is None:
        harshness = light_harshness(photo if raw is None else raw, net, normals, well_seen)
    relit = net_relit(photo, net, normals, well_seen)
    mixed = (1.0 - harshness) * photo + harshness * relit
    return blend_colors(weight, mixed, net, blend_shares(harshness), smooth), harshness


def blend_colors(
    weight: np.ndarray,
    photo: np.ndarray,
    net: np.ndarray,
    shares: tuple[float, float],
    smooth: Smoother | None = None,
) -> np.ndarray:
    """(V, 3) the blend of (V, 3) photo and net colours by the (V,) photo weight and the net's
    (seen, hidden) shares (module docstring); ``smooth`` averages the hidden side's colours
    over the surface (``smooth_over``; None: kept as they are)."""
    seen_share, unseen_share = shares
    where_seen = seen_share * net + (1.0 - seen_share) * photo
    unseen = unseen_share * net + (1.0 - unseen_share) * photo
    if smooth is not None:
        unseen = smooth(unseen)
    return weight[:, None] * where_seen + (1.0 - weight[:, None]) * unseen


def smooth_over(
    mesh: trimesh.Trimesh, length: float = HIDDEN_BLUR, contrast: float | None = HIDDEN_CONTRAST
) -> Smoother:
    """A function (V, 3) -> (V, 3) that averages sRGB values over ``mesh``'s surface: each
    round takes the weighted mean of a vertex and its neighbours, and ``(length / mean edge
    length)^2`` rounds spread a value over about ``length`` (a random walk's reach), whatever
    the mesh's resolution. With ``contrast`` (a CIELAB distance) a neighbour's weight is
    ``exp(-d^2 / (2 contrast^2))`` for its distance ``d`` to the vertex in the values given
    (a bilateral filter, Tomasi & Manduchi 1998, on the mesh graph): colours within a garment
    are averaged, and the boundary between two garments stays sharp. None: plain means. A
    constant field stays constant. The rounds are applied as a truncated Chebyshev series
    (``_rounds_of``), so their cost grows with ``length / edge``, not its square."""
    edges = np.asarray(mesh.edges_unique)
    count = len(mesh.vertices)
    lengths = np.asarray(mesh.edges_unique_length)
    rounds = 0 if len(edges) == 0 else round(float(length / max(lengths.mean(), 1e-12)) ** 2)
    rows = np.concatenate([edges[:, 0], edges[:, 1], np.arange(count)])
    cols = np.concatenate([edges[:, 1], edges[:, 0], np.arange(count)])

    def smooth(values: np.ndarray) -> np.ndarray:
        weights = np.ones(len(edges))
        if contrast is not None and rounds > 0:
            lab = srgb_to_lab(np.clip(values, 0.0, 1.0))
            gap = np.sum((lab[edges[:, 0]] - lab[edges[:, 1]]) ** 2, axis=1)
            weights = np.exp(-gap / (2.0 * contrast**2))
        entries = np.concatenate([weights, weights, np.ones(count)])
        step = sparse.csr_matrix((entries, (rows, cols)), shape=(count, count))
        step = sparse.diags(1.0 / np.asarray(step.sum(axis=1)).ravel()) @ step
        return _rounds_of(step, values, rounds)

    return smooth


def _rounds_of(step: sparse.spmatrix, values: np.ndarray, rounds: int) -> np.ndarray:
    """``step^rounds @ values`` for a (V, V) row-stochastic ``step`` similar to a symmetric
    matrix (eigenvalues in [-1, 1]). ``mu^n = sum_j C(n, j) 2^-n T_|n-2j|(mu)`` exactly (the
    binomial expansion of ``cos^n``), so the Chebyshev coefficients are binomial
    probabilities; terms beyond where their tail falls under ``1e-7`` are dropped, about
    ``5 sqrt(n)`` of them kept."""
    if rounds <= 1:
        return step @ values if rounds == 1 else values
    order = np.arange(rounds + 1)
    even = (rounds - order) % 2 == 0
    coeffs = np.where(even, binom.pmf((rounds - order) // 2, rounds, 0.5), 0.0)
    coeffs[1:] *= 2.0
    tail = np.cumsum(coeffs[::-1])[::-1]
    last = max(1, int(np.nonzero(tail > 1e-7)[0][-1]))
    previous, current = values, step @ values
    total = coeffs[0] * previous + coeffs[1] * current
    for k in range(2, last + 1):
        previous, current = current, 2.0 * (step @ current) - previous
        total = total + coeffs[k] * current
    return total


def blend_shares(harsh: float) -> tuple[float, float]:
    """The net's (seen, hidden) shares for a light of harshness ``harsh`` in [0, 1]."""
    return (
        CLEAR_SHARES[0] + harsh * (HARSH_SHARES[0] - CLEAR_SHARES[0]),
        CLEAR_SHARES[1] + harsh * (HARSH_SHARES[1] - CLEAR_SHARES[1]),
    )


def net_relit(
    photo: np.ndarray, net: np.ndarray, normals: np.ndarray, well_seen: np.ndarray
) -> np.ndarray:
    """(V, 3) the photo divided, channel by channel, by the light that makes the net's albedo
    look like it (``pifuhd.photo_light.net_irradiance``: a coloured, directional light in
    shading-over-albedo form, Ramamoorthi & Hanrahan 2001, evaluated at ``front_normals``).
    The net's colour balance and the photo's detail; the photo itself when fewer than
    ``MIN_SEEN`` vertices are well seen.

    photo, net: (V, 3) sRGB in [0, 1]; normals: (V, 3) unit; well_seen: (V,) bool.
    """
    if well_seen.sum() < MIN_SEEN:
        return photo
    return np.clip(photo / net_irradiance(photo, net, normals, well_seen), 0.0, 1.0)
