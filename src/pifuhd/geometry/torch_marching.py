"""Marching cubes in PyTorch, on the volume's own device (a GPU's volume never leaves it).

The tilings come from :mod:`pifuhd.geometry.cube_tables` (classic marching cubes, Lorensen &
Cline 1987, with ambiguous faces decided by the asymptotic decider, Nielson & Hamann 1991).
Every step is a whole-tensor operation: classify all cells, list the crossed edges (one vertex
each, shared by the cells around it), look up each active cell's triangles.

Against scikit-image's Lewiner marching cubes (:func:`pifuhd.geometry.slabs.lewiner`) on the
same volume: the same vertices (one per crossed edge, placed by the same linear interpolation,
numbered differently); the same triangles wherever a cell is not ambiguous and its polygon is a
triangle or quadrilateral fanned alike; other tilings differ inside single cells (Lewiner also
tests the cell interior and tiles some cases with an extra centre vertex). The surface is closed
and consistently oriented for any volume whose border is outside. Normals are the negated
central-difference gradient of the volume (one-sided on its border) interpolated along each
crossed edge and normalised; scikit-image's differ by a few degrees.

Frames: vertices are fractional sample indices (axis 0 first), as in :mod:`slabs`.
"""

from __future__ import annotations

import numpy as np
import torch

from pifuhd.geometry.cube_tables import (
    CORNER_OFFSETS,
    EDGE_AXIS,
    EDGE_CORNERS,
    FACE_CORNERS,
    tiling_tables,
)

TorchSurface = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""vertices (V, 3) float32, faces (F, 3) int64 wound outward, unit normals (V, 3) float32."""


def _tables(device: torch.device) -> tuple[torch.Tensor, ...]:
    """The tiling tables (see :func:`tiling_tables`) as int64 / bool tensors on ``device``."""
    triangles, counts, centres, ambiguous = tiling_tables()
    return (
        torch.from_numpy(triangles.astype(np.int64)).to(device),
        torch.from_numpy(counts.astype(np.int64)).to(device),
        torch.from_numpy(centres).to(device),
        torch.from_numpy(ambiguous.astype(np.int64)).to(device),
    )


def cell_cases(inside: torch.Tensor) -> torch.Tensor:
    """(X-1, Y-1, Z-1) uint8 case (mask of the inside corners) of every cell of ``inside``
    (X, Y, Z) bool."""
    x, y, z = (n - 1 for n in inside.shape)
    cases = torch.zeros((x, y, z), dtype=torch.uint8, device=inside.device)
    for c, (a, b, d) in enumerate(CORNER_OFFSETS.tolist()):
        cases |= inside[a : a + x, b : b + y, d : d + z].to(torch.uint8) << c
    return cases


def face_bits(
    corner_values: torch.Tensor, cases: torch.Tensor, ambiguous: torch.Tensor
) -> torch.Tensor:
    """(N,) int64 face bits (see :mod:`cube_tables`) of N cells.

    A face whose inside corners are diagonal has its bit set when they are joined across it:
    when the bilinear interpolant's saddle is inside, i.e. the product of the two inside
    corners' values (relative to the level) is larger than the product of the two outside ones
    (the asymptotic decider; a tie separates them).

    Args:
        corner_values: (N, 8) float32 values minus the level at corners 0-7.
        cases: (N,) int64 cases.
        ambiguous: (256,) int64 mask of each case's ambiguous faces.
    """
    mask = ambiguous[cases]
    bits = torch.zeros_like(cases)
    cycles = torch.as_tensor(FACE_CORNERS, device=cases.device)
    for f in range(6):
        rows = torch.nonzero(mask >> f & 1).squeeze(1)
        if rows.numel() == 0:
            continue
        v = corner_values[rows][:, cycles[f]]  # (n, 4) around the face
        diagonal_a, diagonal_b = v[:, 0] * v[:, 2], v[:, 1] * v[:, 3]
        inside_on_a = v[:, 0] > 0
        joined = torch.where(inside_on_a, diagonal_a > diagonal_b, diagonal_b > diagonal_a)
        bits[rows] |= joined.to(torch.int64) << f
    return bits


def _flat_strides(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """C-order strides (in elements) of a 3-D shape."""
    return shape[1] * shape[2], shape[2], 1


def _unravel(index: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(N, 3) int64 coordinates of flat C-order indices (N,) into ``shape``."""
    return torch.stack(
        [
            torch.div(index, stride, rounding_mode="floor") % size
            for stride, size in zip(_flat_strides(shape), shape, strict=True)
        ],
        dim=1,
    )


def _gradient_at(flat: torch.Tensor, shape: tuple[int, ...], points: torch.Tensor) -> torch.Tensor:
    """(N, 3) central-difference gradient of a volume of ``shape`` (``flat`` its values in C
    order) at flat sample indices ``points`` (N,) int64; one-sided on the border, as
    ``numpy.gradient``."""
    grads = []
    for axis, stride in enumerate(_flat_strides(shape)):
        coord = torch.div(points, stride, rounding_mode="floor") % shape[axis]
        below = torch.where(coord > 0, points - stride, points)
        above = torch.where(coord < shape[axis] - 1, points + stride, points)
        span = (above - below).div(stride).to(flat.dtype)
        grads.append((flat[above] - flat[below]) / span)
    return torch.stack(grads, dim=1)


def _crossed_edges(
    volume: torch.Tensor, inside: torch.Tensor, level: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The vertices on the crossed grid edges, numbered axis 0's edges first (C order of their
    lower ends), then axis 1's, then axis 2's.

    Returns:
        ids: (3 * X * Y * Z,) int32: at ``a * X*Y*Z + p`` the id of the vertex on the edge from
            flat sample p along axis a, when that edge is crossed (else undefined).
        vertices: (V, 3) float32 fractional indices of the level crossing on each edge.
        normals: (V, 3) float32 unit outward normals.
    """
    shape = tuple(volume.shape)
    size = volume.numel()
    flat = volume.reshape(-1)
    ids = torch.empty(3 * size, dtype=torch.int32, device=volume.device)
    verts, normals = [], []
    start = 0
    for axis, stride in enumerate(_flat_strides(shape)):
        lower = [slice(None)] * 3
        lower[axis] = slice(0, shape[axis] - 1)
        upper = list(lower)
        upper[axis] = slice(1, shape[axis])
        crossed = torch.zeros(shape, dtype=torch.bool, device=volume.device)
        crossed[tuple(lower)] = inside[tuple(lower)] != inside[tuple(upper)]
        key = torch.nonzero(crossed.reshape(-1)).squeeze(1)  # lower ends, ascending
        del crossed
        count = key.numel()
        ids[axis * size + key] = torch.arange(
            start, start + count, dtype=torch.int32, device=volume.device
        )
        start += count
        v0, v1 = flat[key], flat[key + stride]
        t = (level - v0) / (v1 - v0)
        coords = torch.stack(
            [
                torch.div(key, s, rounding_mode="floor") % n
                for s, n in zip(_flat_strides(shape), shape, strict=True)
            ],
            dim=1,
        ).to(torch.float32)
        coords[:, axis] += t
        g0 = _gradient_at(flat, shape, key)
        grad = g0 + t[:, None] * (_gradient_at(flat, shape, key + stride) - g0)
        verts.append(coords)
        normals.append(_unit(-grad))
    return ids, torch.cat(verts), torch.cat(normals)


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    """(N, 3) vectors scaled to unit length; zero vectors stay zero."""
    length = torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
    return torch.where(length > 0, vectors / length.clamp(min=1e-30), 0.0)


def _edge_lookup(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(12,) int64: index into the ``ids`` of :func:`_crossed_edges` of each local edge of the
    cell whose lower corner is flat sample 0 (add the cell's flat index)."""
    strides = torch.tensor(_flat_strides(shape))
    base = torch.as_tensor(CORNER_OFFSETS[EDGE_CORNERS[:, 0]]) @ strides
    return (torch.as_tensor(EDGE_AXIS) * int(np.prod(shape)) + base).to(device)


def _centre_vertices(
    ids: torch.Tensor,
    lookup: torch.Tensor,
    cells: torch.Tensor,
    loops: torch.Tensor,
    vertices: torch.Tensor,
    normals: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions and unit normals (C, 3) of the centre vertices of the loops ``loops`` (C, 12)
    bool (edge masks) of the cells at flat indices ``cells`` (C,): the means of the loops'
    vertices and normals."""
    edge_ids = ids[cells[:, None] + lookup].to(torch.int64)  # (C, 12), garbage where not crossed
    edge_ids = torch.where(loops, edge_ids, 0)
    weight = loops.to(torch.float32)[:, :, None]
    position = (vertices[edge_ids] * weight).sum(1) / weight.sum(1)
    return position, _unit((normals[edge_ids] * weight).sum(1))


def marching_cubes_torch(volume: torch.Tensor, level: float) -> TorchSurface:
    """The ``level`` surface of ``volume`` (inside: above ``level``), on its device.

    Memory: about 13 bytes per sample (the volume, masks and a 3 x int32 edge-id volume) plus
    about 100 bytes per active cell.

    Args:
        volume: (X, Y, Z) float32, X, Y, Z >= 2. Samples equal to ``level`` count as outside;
            for a closed surface the border should be outside (pad it first).
        level: the iso-level.

    Returns:
        vertices (V, 3) float32 fractional indices, faces (F, 3) int64 wound counter-clockwise
        seen from outside, unit outward normals (V, 3) float32; empty when nothing crosses.
    """
    if volume.dim() != 3 or min(volume.shape) < 2:
        raise ValueError(f"volume must be 3-D with every side >= 2, got {tuple(volume.shape)}")
    volume = volume.to(torch.float32).contiguous()
    device, shape = volume.device, tuple(volume.shape)
    inside = volume > level
    cases = cell_cases(inside)
    active = torch.nonzero(((cases != 0) & (cases != 255)).reshape(-1)).squeeze(1)
    if active.numel() == 0:
        empty = torch.zeros((0, 3), dtype=torch.float32, device=device)
        return empty, torch.zeros((0, 3), dtype=torch.int64, device=device), empty.clone()
    triangles, counts, centres, ambiguous = _tables(device)
    case = cases.reshape(-1)[active].to(torch.int64)
    # the cells' lower corners as flat sample indices of the volume
    plane = (shape[1] - 1) * (shape[2] - 1)
    row, rest = torch.div(active, plane, rounding_mode="floor"), active % plane
    cell = (
        row * (shape[1] * shape[2])
        + torch.div(rest, shape[2] - 1, rounding_mode="floor") * shape[2]
        + rest % (shape[2] - 1)
    )
    del cases, active, row, rest
    flat = volume.reshape(-1)
    corner_offsets = torch.as_tensor(CORNER_OFFSETS, device=device) @ torch.tensor(
        _flat_strides(shape), device=device
    )
    corner_values = flat[cell[:, None] + corner_offsets] - level  # (N, 8)
    tiling = case * 64 + face_bits(corner_values, case, ambiguous)
    del corner_values, case
    ids, vertices, normals = _crossed_edges(volume, inside, level)
    del inside
    lookup = _edge_lookup(shape, device)
    # extra centre vertices (few cells): numbered after the edge vertices, per cell in order
    has_centre = centres[tiling].any(2)  # (N, MAX_CENTRES)
    n_centres = has_centre.sum(1)
    first_centre = torch.cumsum(n_centres, 0) - n_centres + vertices.shape[0]
    centre_cell, centre_slot = torch.nonzero(has_centre, as_tuple=True)
    if centre_cell.numel():
        extra, extra_normals = _centre_vertices(
            ids,
            lookup,
            cell[centre_cell],
            centres[tiling[centre_cell], centre_slot],
            vertices,
            normals,
        )
        vertices = torch.cat([vertices, extra])
        normals = torch.cat([normals, extra_normals])
    per_cell = counts[tiling]
    owner = torch.repeat_interleave(torch.arange(cell.numel(), device=device), per_cell)
    first = torch.cumsum(per_cell, 0) - per_cell
    slot = torch.arange(owner.numel(), device=device) - first[owner]
    codes = triangles[tiling[owner], slot]  # (F, 3): edges 0-11, centre vertices 12 + n
    del per_cell, first, slot, tiling
    is_edge = codes < 12
    faces = ids[cell[owner, None] + lookup[torch.where(is_edge, codes, 0)]].to(torch.int64)
    at_centre = torch.nonzero(~is_edge, as_tuple=True)  # few: only cells with a centre vertex
    faces[at_centre] = first_centre[owner[at_centre[0]]] + codes[at_centre] - 12
    return vertices, faces, normals


def triangulate_torch(
    padded: torch.Tensor,
    level: float = 0.5,
    index_offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``marching.triangulate`` for a volume already inside an outside border, on its device.

    Args:
        padded: (R + 2, R + 2, R + 2) float32 whose border is below ``level`` (as the
            ``torch_grid`` and ``torch_octree`` evaluators return it).
        level: the iso-level; samples equal to it are outside.
        index_offset: added to the vertices (see ``marching.triangulate``).

    Returns:
        The surface as NumPy arrays in the inner volume's fractional indices: vertices (V, 3)
        float32, faces (F, 3) int64 wound outward, unit normals (V, 3) float32.

    Raises:
        ValueError: on non-finite values or a border that is not outside.
    """
    if not bool(torch.isfinite(padded).all()):
        raise ValueError("volume holds NaN or infinite values")
    border = (padded[0], padded[-1], padded[:, 0], padded[:, -1], padded[:, :, 0], padded[:, :, -1])
    if max(float(face.max()) for face in border) > level:
        raise ValueError("the volume's border must be outside (below the level)")
    verts, faces, normals = marching_cubes_torch(padded, level)
    verts += torch.tensor(index_offset, dtype=torch.float32, device=verts.device) - 1.0
    return verts.cpu().numpy(), faces.cpu().numpy(), normals.cpu().numpy()
