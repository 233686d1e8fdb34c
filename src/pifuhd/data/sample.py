"""Surface sampling and inside/outside labels for training points.

All functions work in the frame and unit of the given vertices (the subject frame, cm, for
``MeshAsset``s). Faces are (F, 3) integer vertex indices, counter-clockwise seen from outside.
"""

from __future__ import annotations

import igl
import numpy as np

from pifuhd.data.asset import MeshAsset


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) float64 triangle areas."""
    corners = np.asarray(vertices, dtype=np.float64)[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return 0.5 * np.linalg.norm(cross, axis=1)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` (N, 3) scaled to unit length; zero rows stay zero."""
    length = np.sqrt(np.einsum("nc,nc->n", vectors, vectors))[:, None]
    return vectors / np.maximum(length, 1e-300)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float64 unit vertex normals: the area-weighted mean of the adjacent face normals.

    Vertices without (non-degenerate) faces get the zero vector.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[faces]
    # Unnormalised face normals: their length is twice the face area (area weighting).
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    index = np.asarray(faces).ravel()
    sums = np.stack(
        [np.bincount(index, np.repeat(cross[:, c], 3), len(vertices)) for c in range(3)], axis=1
    )
    return unit_rows(sums)


def interpolate(
    values: np.ndarray, faces: np.ndarray, face_ids: np.ndarray, barycentric: np.ndarray
) -> np.ndarray:
    """Barycentric interpolation of per-vertex ``values`` (V, C) at surface points -> (N, C).

    Args:
        face_ids: (N,) face index of each point.
        barycentric: (N, 3) weights of the face's three corners.
    """
    return np.einsum("nk,nkc->nc", barycentric, values[faces[face_ids]])


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` points uniformly distributed over the surface area (deterministic for ``rng``).

    Returns:
        points: (n, 3) float64; face_ids: (n,) int64; barycentric: (n, 3) float64 (rows >= 0,
        summing to 1), with ``points = sum_k barycentric[:, k] * vertices[faces[face_ids, k]]``.
    """
    cumulative = np.cumsum(face_areas(vertices, faces))
    face_ids = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
    face_ids = np.minimum(face_ids, len(faces) - 1)
    r1 = np.sqrt(rng.random(n))
    r2 = rng.random(n)
    barycentric = np.stack([1.0 - r1, r1 * (1.0 - r2), r1 * r2], axis=1)
    points = interpolate(np.asarray(vertices, dtype=np.float64), faces, face_ids, barycentric)
    return points, face_ids.astype(np.int64), barycentric


def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N,) float64 generalised winding number of ``points`` (N, 3) (libigl's fast version).

    About 1 inside and 0 outside a closed outward-oriented mesh; smooth in between for meshes
    with holes.
    """
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    q = np.ascontiguousarray(np.reshape(points, (-1, 3)), dtype=np.float64)
    if len(q) == 0:
        return np.zeros(0)
    return igl.fast_winding_number(v, f, q)


def inside_mesh(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N,) bool: generalised winding number > 0.5 at ``points`` (N, 3).

    Robust to holes and several (possibly nested or overlapping) components.
    """
    return winding_number(vertices, faces, points) > 0.5


def occupancy_samples(
    vertices: np.ndarray,
    faces: np.ndarray,
    rng: np.random.Generator,
    n_surface: int,
    sigmas: tuple[float, ...],
    n_uniform: int,
    box_min: np.ndarray,
    box_max: np.ndarray,
) -> dict[str, np.ndarray]:
    """Labelled points for occupancy training (PIFu's near-surface + uniform scheme).

    For each ``sigmas[i]``: ``n_surface`` area-uniform surface points displaced by isotropic
    Gaussian noise of standard deviation ``sigmas[i]``; then ``n_uniform`` points uniform in the
    box ``[box_min, box_max]`` (3,). Units: those of ``vertices`` (cm).

    Returns:
        ``points`` (N, 3) float32, ``inside`` (N,) bool, ``kind`` (N,) uint8 (i for sigma i,
        ``len(sigmas)`` for the uniform points), N = n_surface * len(sigmas) + n_uniform.
    """
    if len(sigmas) >= 255:
        raise ValueError(f"at most 254 sigmas, got {len(sigmas)}")
    parts, kinds = [], []
    for i, sigma in enumerate(sigmas):
        points, _, _ = sample_surface(vertices, faces, n_surface, rng)
        parts.append(points + rng.normal(scale=sigma, size=points.shape))
        kinds.append(np.full(n_surface, i, dtype=np.uint8))
    low = np.asarray(box_min, dtype=np.float64)
    high = np.asarray(box_max, dtype=np.float64)
    parts.append(rng.uniform(low, high, size=(n_uniform, 3)))
    kinds.append(np.full(n_uniform, len(sigmas), dtype=np.uint8))
    points = np.concatenate(parts).astype(np.float32)
    return {
        "points": points,
        "inside": inside_mesh(vertices, faces, points),
        "kind": np.concatenate(kinds),
    }


def color_samples(asset: MeshAsset, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` area-uniform surface points of ``asset`` with their normals and albedo.

    Returns:
        ``points`` (n, 3) float32 (subject frame, cm), ``normals`` (n, 3) float32 (interpolated
        area-weighted vertex normals, unit), ``albedo`` (n, 3) float32 sRGB in [0, 1].
    """
    points, face_ids, barycentric = sample_surface(asset.vertices, asset.faces, n, rng)
    normals = vertex_normals(asset.vertices, asset.faces)
    normals = unit_rows(interpolate(normals, asset.faces, face_ids, barycentric))
    return {
        "points": points.astype(np.float32),
        "normals": normals.astype(np.float32),
        "albedo": asset.albedo(face_ids, barycentric).astype(np.float32),
    }


def depth_origin(samples: dict[str, np.ndarray], min_points: int = 100) -> np.ndarray:
    """(3,) float64 volume centroid (cm) of a subject from its occupancy samples.

    The mean of the inside points among the uniform samples (kind ``len(sigmas)``), an
    unbiased estimate of the centroid of the enclosed volume; when fewer than ``min_points``
    of them are inside, the mean of all inside points.

    Raises:
        ValueError: no sample is inside.
    """
    points = np.asarray(samples["points"], dtype=np.float64)
    inside = np.asarray(samples["inside"], dtype=bool)
    kind = np.asarray(samples["kind"])
    uniform_kind = len(samples["sigmas_cm"]) if "sigmas_cm" in samples else kind.max()
    uniform = kind == uniform_kind
    chosen = inside & uniform
    if chosen.sum() < min_points:
        chosen = inside
    if not chosen.any():
        raise ValueError("no inside sample: the mesh encloses no volume")
    return points[chosen].mean(axis=0)


def volume_centroid(
    vertices: np.ndarray, faces: np.ndarray, rng: np.random.Generator, n: int = 100_000
) -> np.ndarray:
    """(3,) float64 centroid of the volume a mesh encloses, estimated as ``depth_origin``
    estimates it: the mean of ``n`` points uniform in the bounding box that are inside.

    Raises:
        ValueError: no point is inside (an open or empty mesh).
    """
    v = np.asarray(vertices, dtype=np.float64)
    points = rng.uniform(v.min(axis=0), v.max(axis=0), size=(n, 3))
    inside = inside_mesh(v, faces, points.astype(np.float32))
    if not inside.any():
        raise ValueError("no point of the bounding box is inside: the mesh encloses no volume")
    return points[inside].mean(axis=0)
