"""The fitted pose corrected in posed space so that the avatar lands on the photo's surface.

CAR (Liao et al., CVPR 2023, Sec. 3.3) first refines the body pose against the image before the
surface detail. The body fit (``pifuhd.body.fit``) already matches landmarks and the mask; what
is left shows once the canonical mesh is posed: a forearm or a shin a few degrees off lands
centimetres from where the photo's reconstruction has it. Here each bone ``j`` gets a small
rigid correction about its posed head ``h_j``,

    C_j(x) = R(w_j) (x - h_j) + h_j + t_j,    T'_j = C_j o T_j,

optimised (Adam, ``ITERATIONS`` steps) so that the avatar skinned with ``T'`` matches the
reconstruction's surface: a two-sided truncated Chamfer term (avatar vertices to their
nearest surface point, point-to-plane along the surface normal, and surface points to their
nearest avatar vertex; pairs farther than ``TRUNCATE`` cm ignored as parts one side lacks),
plus ``w_j`` and ``t_j`` kept small and a bone's rotation kept near its parent's. Nearest
neighbours are found again every ``REPAIR`` steps (ICP). The canonical (rest) mesh does not
change; only the pose, so the rig stays exact (``refine_rigged_pose``).

Frames: subject cm (``pifuhd.body.skinned``); the surface arrives in the cube and is taken to
the subject frame with the rig's placement.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from pifuhd.avatar.rigging import RiggedMesh

ITERATIONS, LR_ROT, LR_SHIFT = 100, 0.01, 0.1
TRUNCATE = 6.0
"""cm: nearest-neighbour pairs farther apart are not counted (10 did no better on the
validation people)."""
REPAIR = 10
W_ROT, W_SHIFT, W_PARENT = 1.0, 0.01, 1.0
SURFACE_SAMPLES = 20_000


def axis_angle(vectors: torch.Tensor) -> torch.Tensor:
    """(J, 3) axis-angle -> (J, 3, 3) rotations (Rodrigues)."""
    angle = vectors.norm(dim=1, keepdim=True).clamp_min(1e-8)
    k = vectors / angle
    zero = torch.zeros_like(k[:, 0])
    cross = torch.stack(
        [zero, -k[:, 2], k[:, 1], k[:, 2], zero, -k[:, 0], -k[:, 1], k[:, 0], zero], 1
    ).view(-1, 3, 3)
    eye = torch.eye(3, dtype=vectors.dtype).expand_as(cross)
    sin, cos = torch.sin(angle)[:, :, None], torch.cos(angle)[:, :, None]
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def corrected(transforms: torch.Tensor, heads: torch.Tensor, rot: torch.Tensor, shift):
    """(J, 4, 4) ``C_j o T_j`` (module docstring) for posed heads (J, 3)."""
    r = axis_angle(rot)
    top = r @ transforms[:, :3, :]
    offset = heads - (r @ heads[:, :, None])[:, :, 0] + shift
    top = torch.cat([top[:, :, :3], top[:, :, 3:] + offset[:, :, None]], 2)
    bottom = transforms[:, 3:, :]
    return torch.cat([top, bottom], 1)


def refine_pose(
    rest: np.ndarray,
    weights: np.ndarray,
    transforms: np.ndarray,
    heads: np.ndarray,
    parents: list[int],
    surface: trimesh.Trimesh,
    iterations: int = ITERATIONS,
    regular: float = 1.0,
) -> np.ndarray:
    """Corrected (J, 4, 4) bone transforms (module docstring).

    Args:
        rest: (V, 3) the avatar's rest vertices (cm). weights: (V, J) its skinning weights.
        transforms: (J, 4, 4) the fitted pose. heads: (J, 3) each bone's posed head (cm).
        parents: each bone's parent (-1: root). surface: the photo's surface (subject cm).
        regular: scales the three regularisers (``W_ROT``, ``W_SHIFT``, ``W_PARENT``).
    """
    dtype = torch.float64
    used = np.flatnonzero(np.asarray(weights).sum(axis=0) > 0)
    w = torch.as_tensor(np.asarray(weights)[:, used], dtype=dtype)
    t0 = torch.as_tensor(np.asarray(transforms)[used], dtype=dtype)
    h = torch.as_tensor(np.asarray(heads)[used], dtype=dtype)
    x = torch.as_tensor(np.concatenate([rest, np.ones((len(rest), 1))], 1), dtype=dtype)
    index = {int(j): i for i, j in enumerate(used)}
    pairs = []
    for i, j in enumerate(used):
        p = parents[int(j)]
        while p >= 0 and p not in index:
            p = parents[p]
        if p >= 0:
            pairs.append((i, index[p]))
    pair = torch.as_tensor(pairs, dtype=torch.long).reshape(-1, 2)
    samples, faces = trimesh.sample.sample_surface(surface, SURFACE_SAMPLES, seed=0)
    target = torch.as_tensor(samples, dtype=dtype)
    normal = torch.as_tensor(np.asarray(surface.face_normals)[faces], dtype=dtype)
    surface_tree = cKDTree(samples)
    rot = torch.zeros(len(used), 3, dtype=dtype, requires_grad=True)
    shift = torch.zeros(len(used), 3, dtype=dtype, requires_grad=True)
    optim = torch.optim.Adam([{"params": [rot], "lr": LR_ROT}, {"params": [shift], "lr": LR_SHIFT}])
    for step in range(iterations):
        blend = (w @ corrected(t0, h, rot, shift)[:, :3, :].reshape(len(used), 12)).view(-1, 3, 4)
        posed = (blend @ x[:, :, None])[:, :, 0]
        if step % REPAIR == 0:
            now = posed.detach().numpy()
            d_to, near = surface_tree.query(now)
            d_from, back = cKDTree(now).query(samples)
            keep_to = torch.as_tensor(d_to < TRUNCATE)
            keep_from = torch.as_tensor(d_from < TRUNCATE)
            near, back = torch.as_tensor(near), torch.as_tensor(back)
        gap = posed[keep_to] - target[near[keep_to]]
        to_term = (gap * normal[near[keep_to]]).sum(1).pow(2).mean() + 0.1 * gap.pow(2).sum(
            1
        ).mean()
        from_term = (target[keep_from] - posed[back[keep_from]]).pow(2).sum(1).mean()
        reg = W_ROT * rot.pow(2).sum() + W_SHIFT * shift.pow(2).sum()
        if len(pair):
            reg = reg + W_PARENT * (rot[pair[:, 0]] - rot[pair[:, 1]]).pow(2).sum()
        reg = regular * reg
        loss = to_term + from_term + reg
        optim.zero_grad()
        loss.backward()
        optim.step()
    out = np.array(transforms, dtype=np.float64, copy=True)
    with torch.no_grad():
        out[used] = corrected(t0, h, rot, shift).numpy()
    return out


def refine_rigged_pose(
    rigged: RiggedMesh, surface_cube: trimesh.Trimesh, iterations: int = ITERATIONS
) -> RiggedMesh:
    """A rigged avatar re-posed onto the photo's surface (cube frame): same rest mesh and
    weights, corrected bone transforms (``rigged.body.transforms`` replaced)."""
    from pifuhd.body.skinned import skin

    body = rigged.body
    heads = np.asarray(body.info["rest_heads"], np.float64)
    posed_heads = np.einsum("jab,jb->ja", body.transforms[:, :3, :3], heads)
    posed_heads += body.transforms[:, :3, 3]
    surface = trimesh.Trimesh(
        rigged.placement.to_subject(surface_cube.vertices), surface_cube.faces, process=False
    )
    transforms = refine_pose(
        rigged.rest, rigged.weights, body.transforms, posed_heads, list(body.bone_parents),
        surface, iterations,
    )  # fmt: skip
    new_body = replace(body, transforms=transforms)
    posed = skin(rigged.rest, rigged.weights, transforms)
    return replace(rigged, posed=posed, body=new_body)
