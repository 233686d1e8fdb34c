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
- ``blend`` (the default): ``w * (a * net + (1 - a) * photo) + (1 - w) * (b * net + (1 - b) *
  photo)``, ``a`` = ``SEEN_NET_SHARE``, ``b`` = ``NET_SHARE``. ``w`` is the photo's weight: 1
  where the surface faces the camera, falling to 0 as it turns away (``FACING``) and at the
  edge of what the camera sees. It is then averaged over the mesh's neighbours ``SEAM_ROUNDS``
  times, so no edge shows, and kept 0 where the camera does not see the surface. Where it is
  hidden, the colour mixes the net's (three quarters) with the photo's copy of the front.

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
NET_SHARE = 0.75
"""The net's share of the colour where the photo does not reach (the rest: the photo's copy
of the front). Chosen with ``SEEN_NET_SHARE`` on 5 validation people (``pifuhd synth 5 --seed
6000``) x 4 yaws x 3 lights, by the mean PATD of the six light x geometry cells: 13.29 for
0.5 / 0.75, against 14.28 for the photo alone and 13.54 for the best shares of the session-18
net. The best shares depend on the light: under clear light the photo is nearly the albedo,
under wild light it is far from it. BENCHMARKS.md (session 20) has the grid."""
SEEN_NET_SHARE = 0.5
"""The net's share where the photo sees the surface. The bundled net is residual (it
corrects the photo's colour pooled over 4 x 4 pixels), so half of it keeps the photo's
full-resolution detail and half its correction."""
SEAM_ROUNDS = 4
"""Rounds of neighbour averaging of the photo weight (the blend band's width, in edges)."""
LUMA = np.array([0.2126, 0.7152, 0.0722])
SHADING_RANGE = (0.35, 2.5)
"""Relative shading clipped to this range before dividing (deep creases, highlights)."""


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
    docstring). ``shares``: the net's share where the photo sees the surface and where it does
    not, for the blend (default ``(SEEN_NET_SHARE, NET_SHARE)``).

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
    seen_share, unseen_share = (SEEN_NET_SHARE, NET_SHARE) if shares is None else shares
    weight = photo_weight(mesh, seen)[:, None]
    net = evidence.net(vertices)  # type: ignore[misc]
    where_seen = seen_share * net + (1.0 - seen_share) * photo
    unseen = unseen_share * net + (1.0 - unseen_share) * photo
    return (weight * where_seen + (1.0 - weight) * unseen).astype(np.float32)
