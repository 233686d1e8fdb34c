"""How far a photo's light is from plain, soft light, judged from the photo, the colour net's
albedo and the surface's normals (``pifuhd.surface_colors`` blends by it).

Under soft, near-uniform light a photo is nearly the albedo and the blend should keep it; under
directional or coloured light the photo is far from the albedo and the blend should lean on the
colour net and take the light off. ``light_harshness`` reads two cues off the well-seen vertices
and maps each to [0, 1] by a ramp; the harsher wins:

- ``shading_contrast``: how much the photo's brightness changes with the normal across surfaces
  of one albedo. The vertices are grouped by the net's colour and the photo's chromaticity
  (k-means in CIELAB: the net gives the albedo's broad regions, the photo splits fine patterns
  the net blurs, and a white light that dims a surface leaves its chromaticity nearly as it
  was), each group's linear luminance
  is taken relative to its median (one albedo: what is left is shading), and an
  ambient-plus-directional shading ``c0 + c . n`` is fitted to it by Huber-weighted least
  squares. The cue is the spread (standard deviation over the vertices, relative to the median)
  of that fitted shading. Grouping by the net rather than dividing by it keeps the net's own
  errors of brightness and colour out; the robust, first-order fit keeps albedo edges and
  creases out. It tells soft light from a moderate key light, which the spread of the photo's
  own shading did not (BENCHMARKS.md, issue 21, sessions 29, 36 and 37).
- ``irradiance_spread``: the spread of the luminance of ``net_irradiance``, the coloured
  second-order spherical-harmonics light that turns the net's albedo into the photo
  (Ramamoorthi & Hanrahan 2001). It catches harsh light from behind, which leaves the surface
  the camera sees evenly dim (little contrast within an albedo) but far from the net.

The ramps were chosen on 15 synthetic validation people (session 37) under the three light presets
(``pifuhd.data.lighting``), with the cues read off the reconstruction.

All colours are sRGB in [0, 1]; normals are unit, in the cube frame (+z toward the camera).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.vq import kmeans2

from pifuhd.eval.color_metrics import srgb_to_lab

LUMA = np.array([0.2126, 0.7152, 0.0722])
"""Rec. 709 luminance weights of linear RGB."""
MIN_SEEN = 50
"""Fewer well-seen vertices than this: no light is judged (harshness 0, the photo is kept)."""
ALBEDO_GROUPS = 8
"""k of the k-means grouping of the net's colours."""
GROUP_SCALE = np.array([40.0, 10.0, 10.0])
"""Divides the net's CIELAB (L*, a*, b*) before k-means: hue and chroma group more than
lightness."""
PHOTO_HUE_SCALE = 4.0
"""Multiplies the photo's chromaticity, CIELAB (a*, b*) / L* (L* at least 5), before k-means:
a light of one colour that only dims or brightens a surface leaves it nearly unchanged."""
MIN_GROUP = 10
"""Groups with fewer vertices are left out of the contrast fit."""
HUBER_K = 1.345
"""Huber's constant, in robust standard deviations (the median absolute residual x 1.4826)."""
HUBER_ROUNDS = 5
"""Iterations of reweighted least squares in the contrast fit."""
CONTRAST_RAMP = (0.045, 0.06)
"""``shading_contrast`` at which the harshness starts to rise from 0 and at which it reaches 1.
On the reconstructions of the 15 validation people, 60 views per light, with the colour net of
session 39 grouping the albedo (0th / 10th / 50th / 90th / 100th percentile): clear light
0.004 / 0.009 / 0.025 / 0.044 / 0.075, intermediate 0.030 / 0.062 / 0.091 / 0.117 / 0.145,
wild 0.031 / 0.080 / 0.175 / 0.278 / 0.351 (session 38's net: clear 0.004 / 0.010 / 0.026 /
0.045 / 0.072, intermediate 0.026 / 0.066 / 0.088 / 0.121 / 0.150)."""
SPREAD_RAMP = (0.075, 0.09)
"""The same for ``irradiance_spread``, which depends on the net more: clear light 0.012 /
0.014 / 0.019 / 0.036 / 0.074, intermediate 0.014 / 0.020 / 0.027 / 0.040 / 0.063, wild
0.047 / 0.062 / 0.126 / 0.173 / 0.199 (session 39's net, asked without the light; with
session 38's, clear reached 0.083, and with session 21's it stayed below 0.045). It catches
wild light from behind, which leaves the front evenly dim and the contrast low. Both ramps and
the shares of ``pifuhd.surface_colors`` were chosen together (session 39, on the worst of the
six light x geometry cells)."""
RELIGHT_RANGE = (0.2, 5.0)
"""The per-channel irradiance of ``net_irradiance`` is clipped to this range."""
RELIGHT_RIDGE = 1e-3
"""Ridge weight of ``net_irradiance``'s least squares, per well-seen vertex."""


def srgb_to_linear(colors: np.ndarray) -> np.ndarray:
    """(..., 3) linear RGB of sRGB colours in [0, 1] (IEC 61966-2-1)."""
    c = np.clip(colors, 0.0, 1.0)
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(N, 9) real spherical-harmonics basis up to order 2 at unit normals (constants dropped:
    they fold into the fitted coefficients)."""
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    one = np.ones_like(x)
    return np.stack([one, x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1], 1)


def front_normals(normals: np.ndarray) -> np.ndarray:
    """(V, 3) normals turned toward the camera, ``(x, y, |z|)``: for a hidden vertex, about the
    normal of the surface in front of it, whose colour the photo copies onto it."""
    return np.concatenate([normals[:, :2], np.abs(normals[:, 2:3])], 1)


def net_irradiance(
    photo: np.ndarray, net: np.ndarray, normals: np.ndarray, well_seen: np.ndarray
) -> np.ndarray:
    """(V, 3) the light that makes the net's albedo look like the photo: a second-order
    spherical-harmonics irradiance ``s_c(n)`` per channel, fitted by ridge least squares so
    that ``net_c * s_c(n) ~ photo_c`` over the ``well_seen`` vertices, evaluated at
    ``front_normals`` and clipped to ``RELIGHT_RANGE``. Needs ``MIN_SEEN`` well-seen vertices.

    photo, net: (V, 3) sRGB in [0, 1]; normals: (V, 3) unit; well_seen: (V,) bool.
    """
    basis = sh_basis(front_normals(normals))
    fitted = basis[well_seen]
    shading = np.empty_like(photo, dtype=np.float64)
    for channel in range(3):
        rows = fitted * net[well_seen, channel : channel + 1]
        normal = rows.T @ rows + RELIGHT_RIDGE * len(rows) * np.eye(rows.shape[1])
        coeffs = np.linalg.solve(normal, rows.T @ photo[well_seen, channel])
        shading[:, channel] = np.clip(basis @ coeffs, *RELIGHT_RANGE)
    return shading


def irradiance_spread(irradiance: np.ndarray, well_seen: np.ndarray) -> float:
    """Standard deviation over the ``well_seen`` vertices of the (V, 3) irradiance's luminance,
    relative to its median."""
    luminance = irradiance[well_seen] @ LUMA
    return float(np.std(luminance / max(float(np.median(luminance)), 1e-6)))


def albedo_groups(net: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """(N,) int group of each vertex by its (N, 3) net colour and photo colour: k-means
    (``ALBEDO_GROUPS``, k-means++ from a fixed seed, so the same colours give the same groups)
    over the net's CIELAB / ``GROUP_SCALE`` and the photo's chromaticity x ``PHOTO_HUE_SCALE``."""
    seen = srgb_to_lab(np.clip(photo, 0.0, 1.0))
    chromaticity = seen[:, 1:] / np.maximum(seen[:, :1], 5.0)
    features = np.concatenate(
        [srgb_to_lab(np.clip(net, 0.0, 1.0)) / GROUP_SCALE, PHOTO_HUE_SCALE * chromaticity], 1
    )
    k = min(ALBEDO_GROUPS, len(np.unique(features, axis=0)))
    with warnings.catch_warnings():
        # fewer albedos than k leave a group empty: that is an answer (fewer groups), not a fault
        warnings.filterwarnings("ignore", message="One of the clusters is empty")
        _, labels = kmeans2(features, k, minit="++", seed=0)
    return labels


def relative_luminance(photo: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((N,) the photo's linear luminance over its group's median, (N,) bool: in a group of at
    least ``MIN_GROUP`` with a positive median)."""
    luminance = srgb_to_linear(photo) @ LUMA
    relative = np.ones_like(luminance)
    kept = np.zeros(len(luminance), bool)
    for group in np.unique(groups):
        members = groups == group
        median = float(np.median(luminance[members]))
        if members.sum() >= MIN_GROUP and median > 1e-4:
            relative[members] = luminance[members] / median
            kept |= members
    return relative, kept


def huber_fit(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficients of ``design @ c ~ target`` by iteratively reweighted least squares with
    Huber's weights (``HUBER_K``, ``HUBER_ROUNDS``)."""
    weights = np.ones_like(target)
    coeffs = np.zeros(design.shape[1])
    for _ in range(HUBER_ROUNDS):
        root = np.sqrt(weights)
        coeffs, *_ = np.linalg.lstsq(design * root[:, None], target * root, rcond=None)
        residual = np.abs(target - design @ coeffs)
        scale = 1.4826 * float(np.median(residual)) + 1e-6
        weights = np.minimum(1.0, HUBER_K * scale / np.maximum(residual, 1e-9))
    return coeffs


def shading_contrast(
    photo: np.ndarray, net: np.ndarray, normals: np.ndarray, well_seen: np.ndarray
) -> float:
    """The spread of the ambient-plus-directional shading fitted within the net's albedo
    groups (module docstring); 0 with fewer than ``MIN_SEEN`` usable vertices.

    photo, net: (V, 3) sRGB in [0, 1]; normals: (V, 3) unit; well_seen: (V,) bool.
    """
    if well_seen.sum() < MIN_SEEN:
        return 0.0
    groups = albedo_groups(net[well_seen], photo[well_seen])
    relative, kept = relative_luminance(photo[well_seen], groups)
    kept &= (relative > 0.2) & (relative < 3.0)  # black shadows, specular spots
    if kept.sum() < MIN_SEEN:
        return 0.0
    design = np.concatenate([np.ones((int(kept.sum()), 1)), normals[well_seen][kept]], 1)
    fitted = design @ huber_fit(design, relative[kept])
    return float(np.std(fitted / max(float(np.median(fitted)), 1e-6)))


def ramp(value: float, span: tuple[float, float]) -> float:
    """0 at or below ``span[0]``, 1 at or above ``span[1]``, linear between."""
    low, high = span
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def light_harshness(
    photo: np.ndarray, net: np.ndarray, normals: np.ndarray, well_seen: np.ndarray
) -> float:
    """How harsh the photo's light is, in [0, 1] (module docstring): the larger of
    ``shading_contrast`` through ``CONTRAST_RAMP`` and ``irradiance_spread`` through
    ``SPREAD_RAMP``. 0 with fewer than ``MIN_SEEN`` well-seen vertices (nothing to judge the
    light by: the photo is trusted).

    photo, net: (V, 3) sRGB in [0, 1]; normals: (V, 3) unit; well_seen: (V,) bool.
    """
    if well_seen.sum() < MIN_SEEN:
        return 0.0
    contrast = shading_contrast(photo, net, normals, well_seen)
    spread = irradiance_spread(net_irradiance(photo, net, normals, well_seen), well_seen)
    return max(ramp(contrast, CONTRAST_RAMP), ramp(spread, SPREAD_RAMP))
