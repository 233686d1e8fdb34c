"""Second-order spherical-harmonic (SH) lighting and precomputed radiance transfer (PRT).

Conventions (every function below):

- Nine real SH basis functions of bands l = 0, 1, 2, indexed ``k = l (l + 1) + m``:
  ``Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22`` with the standard orthonormal constants
  (``sum_k Y_k(w)^2`` integrates to 9 over the sphere). They are functions of a unit direction
  ``w = (x, y, z)`` of whatever frame the caller uses, with ``z`` as the polar axis of the
  formulae (so ``Y10 ∝ z``, ``Y1-1 ∝ y``, ``Y11 ∝ x``); our frames are y up, which is fine: the
  basis spans the same space in any orientation.
- An environment ("light") is ``(9, C)`` coefficients of the incoming radiance ``L(w)`` from
  direction ``w`` (C = 3 colour channels, linear units). ``L(w) = 1`` everywhere is
  ``UNIFORM_DC`` in the DC slot and zero elsewhere.
- Shading is the outgoing radiance of a white Lambertian surface:
  ``shading = (1 / pi) * integral L(w) V(w) max(0, n . w) dw``; an unoccluded surface under the
  uniform unit environment gets shading 1.0. A transfer vector ``T (9,)`` per vertex holds the
  SH projection of ``V(w) max(0, n . w) / pi``, so that ``shading = T . L``.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Protocol

import numpy as np

N_SH = 9
"""Number of SH coefficients for bands 0..2."""

UNIFORM_DC = 2.0 * math.sqrt(math.pi)
"""DC coefficient of the uniform environment L(w) = 1 (1 / Y00)."""

_C0 = 0.5 * math.sqrt(1.0 / math.pi)
_C1 = math.sqrt(3.0 / (4.0 * math.pi))
_C2 = 0.5 * math.sqrt(15.0 / math.pi)
_C20 = 0.25 * math.sqrt(5.0 / math.pi)
_C22 = 0.25 * math.sqrt(15.0 / math.pi)

CLAMPED_COSINE_BANDS = np.array([math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0])
"""Band factors A_l of the clamped cosine max(0, n . w): its SH coefficients are A_l Y_lm(n)."""

_BAND = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])


class RayCaster(Protocol):
    """Anything answering batched ray queries like trimesh's ``RayMeshIntersector``."""

    def intersects_any(self, ray_origins: np.ndarray, ray_directions: np.ndarray) -> np.ndarray:
        """(N,) bool: whether each ray (origins, directions: (N, 3)) hits the mesh."""
        ...


def sh_basis(dirs: np.ndarray) -> np.ndarray:
    """Real SH basis of bands 0..2 at unit directions.

    Args:
        dirs: (N, 3) unit vectors (x, y, z) in any frame.
    Returns:
        (N, 9) float64, columns ``Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22``.
    """
    d = np.asarray(dirs, dtype=np.float64)
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    return np.stack(
        [
            np.full_like(x, _C0),
            _C1 * y,
            _C1 * z,
            _C1 * x,
            _C2 * x * y,
            _C2 * y * z,
            _C20 * (3.0 * z * z - 1.0),
            _C2 * x * z,
            _C22 * (x * x - y * y),
        ],
        axis=1,
    )


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) float64 near-uniform unit directions on the sphere (spherical Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


@cache
def _fit_directions() -> tuple[np.ndarray, np.ndarray]:
    """Fixed directions (64, 3) and the pseudo-inverse (9, 64) of their SH basis."""
    dirs = fibonacci_sphere(64)
    return dirs, np.linalg.pinv(sh_basis(dirs))


def project_sh(func_values_at: np.ndarray) -> np.ndarray:
    """Least-squares SH coefficients (9, C) from values (64, C) at ``_fit_directions()``.

    Exact for functions of bands 0..2 (polynomials of degree <= 2 on the sphere).
    """
    return _fit_directions()[1] @ func_values_at


def rotate_sh(coeffs: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Coefficients of the rotated function ``L'(w) = L(R^T w)``.

    If ``L`` is a light in frame A and ``R`` maps frame-A vectors to frame B, the result is the
    same light expressed in frame B: ``L'(R w) = L(w)``.

    Args:
        coeffs: (9, C) SH coefficients of L (or (9,)).
        rotation: (3, 3) rotation matrix R.
    Returns:
        (9, C) float64 coefficients of L' (exact: each band is closed under rotation).
    """
    dirs, pinv = _fit_directions()
    rotated_basis = sh_basis(dirs @ np.asarray(rotation, dtype=np.float64))  # rows: R^T w_i
    return pinv @ (rotated_basis @ np.asarray(coeffs, dtype=np.float64))


def lobe_sh(direction: np.ndarray) -> np.ndarray:
    """(9,) SH coefficients of the smooth non-negative lobe ``((1 + d . w) / 2)^2``.

    It is 1 toward ``d`` (normalised here) and falls to 0 opposite; exactly of band <= 2.
    """
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    dirs = _fit_directions()[0]
    return project_sh(((1.0 + dirs @ d) / 2.0) ** 2)


def radiance(coeffs: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Radiance (N, C) of the environment ``coeffs`` (9, C) from directions ``dirs`` (N, 3)."""
    return sh_basis(dirs) @ coeffs


def irradiance_shading(coeffs: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Unoccluded shading (N, C) = irradiance / pi at unit ``normals`` (N, 3) under ``coeffs``."""
    factors = CLAMPED_COSINE_BANDS[_BAND] / math.pi
    return sh_basis(normals) @ (factors[:, None] * coeffs)


def _scale_to_non_negative(coeffs: np.ndarray, margin: float = 0.02) -> np.ndarray:
    """Shrink the non-DC terms so the radiance stays >= ``margin`` * the DC radiance.

    Checked on 2000 directions; a non-negative radiance also gives non-negative irradiance and
    non-negative shading under any visibility.
    """
    dirs = fibonacci_sphere(2000)
    ambient = coeffs[0] * _C0  # (C,)
    varying = sh_basis(dirs)[:, 1:] @ coeffs[1:]  # (N, C)
    floor = (1.0 - margin) * ambient
    with np.errstate(divide="ignore"):
        limits = np.where(varying < 0.0, floor / -varying, np.inf)
    scale = min(1.0, float(limits.min()))
    out = coeffs.copy()
    out[1:] *= scale
    return out


def random_environment(rng: np.random.Generator) -> np.ndarray:
    """A random second-order environment like PIFu's training lights.

    A dominant DC term (uniform radiance 0.5..1.1, tinted per channel by up to +-10 %), plus
    random band-1 (directional, std 0.6 of the DC) and band-2 (std 0.3 of the DC) terms that are
    mostly shared by the channels (5 % per-channel variation). The non-DC terms are then shrunk
    if needed so that the radiance, hence the irradiance, is non-negative in every direction.

    Returns:
        (9, 3) float64 coefficients, in whatever frame the caller treats them (e.g. the view).
    """
    intensity = rng.uniform(0.5, 1.1)
    tint = 1.0 + rng.uniform(-0.1, 0.1, size=3)
    dc = UNIFORM_DC * intensity * tint
    band_std = np.where(_BAND[1:] == 1, 0.6, 0.3) * UNIFORM_DC * intensity
    shared = rng.standard_normal(N_SH - 1) * band_std
    per_channel = 1.0 + 0.05 * rng.standard_normal((N_SH - 1, 3))
    coeffs = np.zeros((N_SH, 3))
    coeffs[0] = dc
    coeffs[1:] = shared[:, None] * per_channel
    return _scale_to_non_negative(coeffs)


def _environment(ambient: tuple, lobes: list[tuple[tuple, float, tuple]]) -> np.ndarray:
    """(9, 3): uniform ``ambient`` radiance (RGB) + ``lobe_sh`` lobes (direction, gain, RGB)."""
    coeffs = np.zeros((N_SH, 3))
    coeffs[0] = UNIFORM_DC * np.asarray(ambient, dtype=np.float64)
    for direction, gain, color in lobes:
        coeffs += np.outer(lobe_sh(np.asarray(direction, dtype=np.float64)), gain * np.array(color))
    return coeffs


LIGHT_PRESETS = ("clear", "intermediate", "wild")
"""Names of the texture paper's lighting presets, softest first."""


def light_preset(name: str) -> np.ndarray:
    """SH environment (9, 3) for one of the texture paper's presets, in the VIEW frame.

    The paper only names them; our definitions (radiance, linear RGB; "lobe" is
    ``((1 + d . w) / 2)^2`` toward d; the camera looks along -z, so +z is toward the camera):

    - ``"clear"``: bright, near-uniform soft light: white ambient 0.9 plus a weak white lobe
      (gain 0.3) from above and slightly in front (0, 1, 0.3). Shading 0.9..1.2.
    - ``"intermediate"``: moderate directional + ambient: ambient 0.35 (white) plus a slightly
      warm key lobe (gain 1.0, RGB 1.0/0.96/0.9) from the upper front left (-0.5, 0.6, 0.6).
    - ``"wild"``: harsh, coloured, strongly directional, low ambient: bluish ambient
      (0.02, 0.025, 0.04), an orange key lobe (gain 2.5, RGB 1.0/0.6/0.3) from the right, a bit
      above and behind (0.9, 0.3, -0.2), and a weak blue fill lobe (gain 0.15, RGB
      0.3/0.5/1.0) from the lower front left (-0.6, -0.3, 0.5).

    Unoccluded shading contrast (max / min over normals, channel mean): about 1.2 (clear),
    2.6 (intermediate) and 7.5 (wild).

    Raises:
        ValueError: unknown name (the message lists the names).
    """
    if name == "clear":
        return _environment((0.9, 0.9, 0.9), [((0.0, 1.0, 0.3), 0.3, (1.0, 1.0, 1.0))])
    if name == "intermediate":
        return _environment((0.35, 0.35, 0.35), [((-0.5, 0.6, 0.6), 1.0, (1.0, 0.96, 0.9))])
    if name == "wild":
        return _environment(
            (0.02, 0.025, 0.04),
            [
                ((0.9, 0.3, -0.2), 2.5, (1.0, 0.6, 0.3)),
                ((-0.6, -0.3, 0.5), 0.15, (0.3, 0.5, 1.0)),
            ],
        )
    raise ValueError(f"unknown light preset {name!r}; expected one of {', '.join(LIGHT_PRESETS)}")


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """(3, 3) uniformly random rotation (QR of a Gaussian matrix with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def prt_transfer(
    vertices: np.ndarray,
    normals: np.ndarray,
    intersector: RayCaster,
    n_dirs: int = 64,
    rng: np.random.Generator | None = None,
    offset: float | None = None,
    max_rays: int = 1 << 20,
) -> np.ndarray:
    """Per-vertex transfer vectors with self-occlusion (see the module docstring).

    ``T = (1 / pi) * integral V(w) max(0, n . w) Y(w) dw`` is computed as the exact unoccluded
    clamped-cosine projection ``A_l Y_lm(n) / pi`` minus a Monte Carlo estimate of the occluded
    part, ``(4 pi / D) sum_d [ray hits] max(0, n . w_d) Y(w_d) / pi``, over D directions (a
    spherical Fibonacci lattice under one random rotation from ``rng``, the same for every
    vertex). This control variate is unbiased, and exact for unoccluded vertices: they get
    shading 1.0 under the uniform unit environment.

    Args:
        vertices: (V, 3) float positions (any unit, the intersector's frame).
        normals: (V, 3) unit vertex normals (outward).
        intersector: ray caster of the same mesh (``trimesh.Trimesh.ray``).
        n_dirs: D, number of directions.
        rng: random generator for the direction set (default: seed 0).
        offset: ray origins are moved by this along the normal; default 1e-4 x the bounding
            box diagonal.
        max_rays: rays per batch (bounds memory).
    Returns:
        (V, 9) float32 transfer vectors.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    vertices = np.asarray(vertices, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    if offset is None:
        offset = 1e-4 * float(np.linalg.norm(np.ptp(vertices, axis=0)))
    dirs = fibonacci_sphere(n_dirs) @ random_rotation(rng).T
    cosines = normals @ dirs.T  # (V, D)
    vi, di = np.nonzero(cosines > 0.0)
    occluded = np.zeros(len(vi), dtype=bool)
    for start in range(0, len(vi), max_rays):
        v, d = vi[start : start + max_rays], di[start : start + max_rays]
        origins = vertices[v] + offset * normals[v]
        occluded[start : start + max_rays] = intersector.intersects_any(origins, dirs[d])
    blocked = np.zeros_like(cosines)
    blocked[vi[occluded], di[occluded]] = cosines[vi[occluded], di[occluded]]
    occluded_part = (4.0 * math.pi / n_dirs) * (blocked @ sh_basis(dirs))  # (V, 9)
    unoccluded = sh_basis(normals) * CLAMPED_COSINE_BANDS[_BAND]
    return ((unoccluded - occluded_part) / math.pi).astype(np.float32)


def shade(transfer: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Shading (V, 3) float32 >= 0 of transfer vectors (V, 9) under ``light`` (9, 3).

    ``light`` must be in the frame the transfer was computed in (rotate it with ``rotate_sh``).
    """
    return np.clip(transfer @ light, 0.0, None).astype(np.float32)
