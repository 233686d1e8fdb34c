"""Vertex colours of a surface from one photo: the photo where the camera sees the surface, the
colour net where it does not, and a blend over a band at the seam (``--texture blend``).

- ``photo``: each vertex takes the crop's colour at its projection (orthographic along z:
  cube ``(x, y)`` -> ``grid_sample`` coordinates ``(x, -y)``, the fine image's pixel centres,
  ``docs/conventions.md``). A hidden vertex (a ray toward the camera hits the surface) gets the
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
  light: how harsh it is (``light_harshness``: the spread of the shading that a light fitted to
  the well-seen vertices implies) moves them from ``CLEAR_SHARES`` (soft light: the photo is
  nearly the albedo) to ``HARSH_SHARES`` (harsh, coloured light: the photo is far from it), and
  in the same measure ``photo'`` moves from the photo to the photo relit by the net
  (``net_relit``: divided, channel by channel, by the coloured light that turns the net's albedo
  into the photo; the net's colour balance and light, the photo's detail).

All colours are sRGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from pifuhd.geometry.normal_refine import visible_from

TEXTURE_MODES = ("blend", "photo", "net")
FACING = (0.15, 0.5)
"""Photo weight ramp over the normal's z (toward the camera): 0 at or below the first value,
1 at or above the second; grazing surfaces smear the photo."""
CLEAR_SHARES = (0.1, 0.5)
"""The net's shares (where the photo sees the surface, where it does not) under soft light."""
HARSH_SHARES = (0.25, 0.75)
"""The net's shares under harsh light. Both pairs and ``LIGHT_SPREAD`` were chosen on 5
validation people (``pifuhd synth 5 --seed 6000``) x 4 yaws x 3 lights with the bundled colour
net, by the mean PATD of the six light x geometry cells (session 29, with ``net_relit``: 12.86,
against 12.96 for session 22's rule with a global white balance, 13.36 for the net alone and
14.18 for the photo alone). BENCHMARKS.md has the searches."""
LIGHT_SPREAD = (0.08, 0.22)
"""The shading spread (``light_harshness``) at which the shares start to move from
``CLEAR_SHARES`` and at which they reach ``HARSH_SHARES``. Measured on the validation people
(10th / 50th / 90th percentiles): clear light 0.05 / 0.10 / 0.18, intermediate 0.06 / 0.11 /
0.18, wild 0.13 / 0.20 / 0.28."""
WELL_SEEN = 0.5
"""Photo weight above which a vertex counts as well seen (the light fits)."""
SEAM_ROUNDS = 4
"""Rounds of neighbour averaging of the photo weight (the blend band's width, in edges)."""
LUMA = np.array([0.2126, 0.7152, 0.0722])
SHADING_RANGE = (0.35, 2.5)
"""Relative shading clipped to this range before dividing (deep creases, highlights)."""
RELIGHT_RANGE = (0.2, 5.0)
"""The per-channel irradiance of ``net_relit`` is clipped to this range before dividing."""
RELIGHT_RIDGE = 1e-3
"""Ridge weight of ``net_relit``'s least squares, per well-seen vertex."""


@dataclass
class PhotoEvidence:
    """What colours a surface from one photo.

    image: (S, S, 3) float32 crop of the photo at the fine level's size, sRGB in [0, 1].
    net: the colour net, cube vertices (V, 3) -> sRGB (V, 3) in [0, 1]; None without one.
    """

    image: np.ndarray
    net: Callable[[np.ndarray], np.ndarray] | None = None


def sample_image(image: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(V, 3) bilinear samples of an (S, S, 3) crop at the projections of cube vertices."""
    grid = torch.from_numpy(np.stack([vertices[:, 0], -vertices[:, 1]], 1).astype(np.float32))
    picture = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    values = F.grid_sample(
        picture[None], grid[None, :, None, :], mode="bilinear", align_corners=True
    )
    return values[0, :, :, 0].T.numpy()


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(N, 9) real spherical-harmonics basis up to order 2 at unit normals (constants dropped:
    they fold into the fitted coefficients)."""
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    one = np.ones_like(x)
    return np.stack([one, x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1], 1)


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
) -> np.ndarray:
    """(V, 3) float32 sRGB vertex colours of a cube-frame mesh by ``mode`` (module
    docstring). ``shares``: fixed net shares (where the photo sees the surface, where it does
    not) for the blend, in place of the ones the photo's light chooses.

    Raises:
        ValueError: an unknown mode, or "net" / "blend" without a colour net.
    """
    if mode not in TEXTURE_MODES:
        raise ValueError(f"texture mode must be one of {', '.join(TEXTURE_MODES)}, not {mode!r}")
    vertices = np.asarray(mesh.vertices)
    if mode != "photo" and evidence.net is None:
        raise ValueError(f"texture mode {mode!r} needs a colour net")
    if mode == "net":
        return evidence.net(vertices).astype(np.float32)  # type: ignore[misc]
    seen = visible_from(mesh, 1.0)
    photo = photo_colors(mesh, evidence.image, seen, delight)
    if mode == "photo":
        return photo.astype(np.float32)
    weight = photo_weight(mesh, seen)
    net = evidence.net(vertices).astype(np.float64)  # type: ignore[misc]
    if shares is not None:
        return blend_colors(weight, photo, net, shares).astype(np.float32)
    raw = photo_colors(mesh, evidence.image, seen) if delight else photo
    normals = np.asarray(mesh.vertex_normals)
    return light_blend(weight, photo, net, normals, raw)[0].astype(np.float32)


def light_blend(
    weight: np.ndarray,
    photo: np.ndarray,
    net: np.ndarray,
    normals: np.ndarray,
    raw: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """The blend that follows the photo's light (module docstring): ((V, 3) colours, the
    light's harshness). weight: (V,) ``photo_weight``; photo, net: (V, 3) sRGB; normals: (V, 3)
    unit; raw: the photo's colours before any delighting (the light is judged by them), by
    default ``photo``."""
    well_seen = weight > WELL_SEEN
    harsh = light_harshness(normals, photo if raw is None else raw, well_seen)
    relit = net_relit(photo, net, normals, well_seen)
    mixed = (1.0 - harsh) * photo + harsh * relit
    return blend_colors(weight, mixed, net, blend_shares(harsh)), harsh


def blend_colors(
    weight: np.ndarray, photo: np.ndarray, net: np.ndarray, shares: tuple[float, float]
) -> np.ndarray:
    """(V, 3) the blend of (V, 3) photo and net colours by the (V,) photo weight and the net's
    (seen, hidden) shares (module docstring)."""
    seen_share, unseen_share = shares
    where_seen = seen_share * net + (1.0 - seen_share) * photo
    unseen = unseen_share * net + (1.0 - unseen_share) * photo
    return weight[:, None] * where_seen + (1.0 - weight[:, None]) * unseen


def light_harshness(normals: np.ndarray, colors: np.ndarray, well_seen: np.ndarray) -> float:
    """How harsh the photo's light is, in [0, 1]: the standard deviation over the ``well_seen``
    vertices of the relative shading a fitted light implies (``relative_shading``), mapped
    linearly from ``LIGHT_SPREAD[0]`` (0) to ``LIGHT_SPREAD[1]`` (1). 0 when fewer than 50
    vertices are well seen (nothing to judge the light by: the photo is trusted)."""
    if well_seen.sum() < 50:
        return 0.0
    spread = float(np.std(relative_shading(normals, colors, well_seen)[well_seen]))
    low, high = LIGHT_SPREAD
    return float(np.clip((spread - low) / (high - low), 0.0, 1.0))


def blend_shares(harsh: float) -> tuple[float, float]:
    """The net's (seen, hidden) shares for a light of harshness ``harsh`` in [0, 1]."""
    return (
        CLEAR_SHARES[0] + harsh * (HARSH_SHARES[0] - CLEAR_SHARES[0]),
        CLEAR_SHARES[1] + harsh * (HARSH_SHARES[1] - CLEAR_SHARES[1]),
    )


def front_normals(normals: np.ndarray) -> np.ndarray:
    """(V, 3) normals turned toward the camera, ``(x, y, |z|)``: for a hidden vertex, about the
    normal of the surface in front of it, whose colour the photo copies onto it."""
    return np.concatenate([normals[:, :2], np.abs(normals[:, 2:3])], 1)


def net_relit(
    photo: np.ndarray, net: np.ndarray, normals: np.ndarray, well_seen: np.ndarray
) -> np.ndarray:
    """(V, 3) the photo divided, channel by channel, by the light that makes the net's albedo
    look like it: a second-order spherical-harmonics irradiance ``s_c(n)`` fitted by least
    squares so that ``net_c * s_c(n) ~ photo_c`` over the ``well_seen`` vertices (a coloured,
    directional light in shading-over-albedo form, Ramamoorthi & Hanrahan 2001). Evaluated at
    ``front_normals`` and clipped to ``RELIGHT_RANGE``. The net's colour balance and the
    photo's detail; the photo itself when fewer than 50 vertices are well seen.

    photo, net: (V, 3) sRGB in [0, 1]; normals: (V, 3) unit; well_seen: (V,) bool.
    """
    if well_seen.sum() < 50:
        return photo
    facing = front_normals(normals)
    basis = sh_basis(facing)
    fitted = basis[well_seen]
    relit = np.empty_like(photo)
    for channel in range(3):
        rows = fitted * net[well_seen, channel : channel + 1]
        normal = rows.T @ rows + RELIGHT_RIDGE * len(rows) * np.eye(rows.shape[1])
        coeffs = np.linalg.solve(normal, rows.T @ photo[well_seen, channel])
        shading = np.clip(basis @ coeffs, *RELIGHT_RANGE)
        relit[:, channel] = photo[:, channel] / shading
    return np.clip(relit, 0.0, 1.0)
