"""CAR's posed-space refinement network: a small signed distance MLP fitted to one photo.

Liao et al., CVPR 2023, Sec. 3.3 refine the posed avatar with a coordinate network ``h(x)``
(posed space) optimised against the predicted normal maps; its initial weights come from a
hypernetwork that reads the fitted body (``pifuhd.avatar.hyper``), else from the geometric
initialisation (a sphere). Here, on a CPU and without a rasteriser:

- the network is ``3 -> width -> width -> width -> 1``, softplus (beta 100), its weights one flat
  vector ``theta`` (what the hypernetwork emits); CAR's is 1024 wide, ours 128 (a 256-wide
  hypernetwork output of 34k numbers instead of 700k);
- the loss (``refine_terms``, IGR's terms on what the photo gives): ``|h|`` at the posed
  avatar's vertices (the canonical model's surface, the prior), ``||∇h/|∇h| - n||`` at the
  vertices the camera sees from the front (``n`` the predicted front normal at the vertex's
  projection) and from the back (the back map), and the Eikonal term at the vertices and at
  points around them;
- the refined surface keeps the avatar's mesh, rig and topology: each vertex moves to the zero
  set of ``h`` by Newton steps along ``∇h`` (``project_to_zero``), at most ``MAX_MOVE`` cube
  units.

Frame: the crop's normalised cube (``docs/conventions.md``): x right, y up, z toward the camera.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from pifuhd.avatar.rigging import RiggedMesh
from pifuhd.body.skinned import unskin
from pifuhd.geometry.normal_refine import sample_map

WIDTH, LAYERS = 128, 3
BETA = 100.0
MAX_MOVE = 0.02
"""Largest move of a vertex onto the zero set (cube units: about 1.5 cm)."""
JITTER = (0.01, 0.05)
"""Eikonal points: vertices moved by these Gaussian sigmas (cube units)."""
TERM_WEIGHTS = {"surface": 1.0, "normal": 1.0, "eikonal": 0.1}


def layer_shapes(width: int = WIDTH, layers: int = LAYERS) -> list[tuple[int, int]]:
    """(out, in) of each linear layer of the refinement network."""
    sizes = [3] + [width] * layers + [1]
    return list(zip(sizes[1:], sizes[:-1], strict=True))


def parameter_count(width: int = WIDTH, layers: int = LAYERS) -> int:
    """Length of the flat weight vector ``theta``."""
    return sum(o * i + o for o, i in layer_shapes(width, layers))


def geometric_theta(
    radius: float = 0.5, width: int = WIDTH, layers: int = LAYERS, seed: int = 0
) -> torch.Tensor:
    """The plain initialisation (SAL's geometric one, Atzmon and Lipman 2020): ``h`` starts
    near ``|x| - radius``. (P,) float32."""
    gen = torch.Generator().manual_seed(seed)
    parts = []
    shapes = layer_shapes(width, layers)
    for k, (out, inp) in enumerate(shapes):
        if k < len(shapes) - 1:
            weight = torch.randn(out, inp, generator=gen) * math.sqrt(2.0) / math.sqrt(out)
            bias = torch.zeros(out)
        else:
            weight = math.sqrt(math.pi) / math.sqrt(inp) + 1e-4 * torch.randn(
                out, inp, generator=gen
            )
            bias = torch.full((out,), -radius)
        parts += [weight.reshape(-1), bias]
    return torch.cat(parts)


def posed_sdf(theta: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``h(points)``: (N, 3) -> (N,) with the flat weights ``theta`` (P,)."""
    width = _width_of(theta.numel())
    x, at = points, 0
    shapes = layer_shapes(width)
    for k, (out, inp) in enumerate(shapes):
        weight = theta[at : at + out * inp].view(out, inp)
        at += out * inp
        bias = theta[at : at + out]
        at += out
        x = F.linear(x, weight, bias)
        if k < len(shapes) - 1:
            x = F.softplus(x, beta=BETA)
    return x[:, 0]


def _width_of(count: int) -> int:
    for width in (16, 32, 64, 128, 256, 512):
        if parameter_count(width) == count:
            return width
    raise ValueError(f"no refinement network has {count} weights")


def sdf_and_gradient(theta: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """((N,) ``h``, (N, 3) ``∇h``), differentiable in ``theta``."""
    points = points.detach().requires_grad_(True)
    value = posed_sdf(theta, points)
    (grad,) = torch.autograd.grad(value.sum(), points, create_graph=True)
    return value, grad


@dataclass(frozen=True)
class Targets:
    """What ``h`` is fitted to (cube frame).

    Attributes:
        points: (N, 3) surface points (the avatar's posed vertices). normals: (N, 3) the unit
            normal each should have, zero where none is known (unseen vertices). jitter: (M, 3)
            Eikonal points around the surface.
    """

    points: torch.Tensor
    normals: torch.Tensor
    jitter: torch.Tensor


def refine_terms(theta: torch.Tensor, targets: Targets) -> dict[str, torch.Tensor]:
    """The refinement loss terms (module docstring); ``TERM_WEIGHTS`` weigh them."""
    value, grad = sdf_and_gradient(theta, targets.points)
    _, grad_off = sdf_and_gradient(theta, targets.jitter)
    seen = targets.normals.norm(dim=1) > 0.5
    unit = F.normalize(grad[seen], dim=1, eps=1e-9)
    align = (unit - targets.normals[seen]).norm(dim=1)
    norms = torch.cat([grad.norm(dim=1), grad_off.norm(dim=1)])
    return {
        "surface": value.abs().mean(),
        "normal": align.mean() if seen.any() else value.sum() * 0.0,
        "eikonal": ((norms - 1.0) ** 2).mean(),
    }


def total_loss(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(TERM_WEIGHTS[k] * v for k, v in terms.items())  # type: ignore[return-value]


def photo_targets(
    vertices: np.ndarray,
    faces: np.ndarray,
    normal_front: np.ndarray,
    normal_back: np.ndarray,
    seed: int = 0,
) -> Targets:
    """Targets from a posed mesh (cube frame) and the photo's two (H, W, 3) normal maps: the
    front map's normal at vertices seen from the front, the back map's at those seen from the
    back (``pifuhd.geometry.normal_refine.visible_from``)."""
    import trimesh

    from pifuhd.geometry.normal_refine import visible_from

    points = torch.as_tensor(np.asarray(vertices, np.float32))
    mesh = trimesh.Trimesh(np.asarray(vertices), np.asarray(faces), process=False)
    front, back = visible_from(mesh, 1.0), visible_from(mesh, -1.0)
    normals = torch.zeros_like(points)
    with torch.no_grad():
        for seen, image in ((front, normal_front), (back, normal_back)):
            pick = torch.as_tensor(seen)
            if pick.any():
                normals[pick] = sample_map(
                    torch.as_tensor(image, dtype=torch.float32), points[pick]
                )
    return Targets(points, normals, jittered(points, seed))


def jittered(points: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Eikonal points: each of ``points`` moved once by each ``JITTER`` sigma."""
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([points + s * torch.randn(points.shape, generator=gen) for s in JITTER])


def fit_theta(
    theta: torch.Tensor,
    targets: Targets,
    iterations: int,
    lr: float = 1e-3,
    batch: int = 4096,
    seed: int = 0,
    on_step: Callable[[int, float, float], None] | None = None,
    sgd_steps: int = 2,
    alpha: float = 0.01,
) -> torch.Tensor:
    """Optimise ``refine_terms`` from ``theta`` (a copy), ``batch`` random surface and Eikonal
    points a step: the first ``sgd_steps`` plain gradient steps of size ``alpha`` (the inner
    steps the hypernetwork is meta-trained for, ``pifuhd.avatar.hyper``), then Adam at ``lr``.
    ``on_step(step, loss, seconds)`` after each of the ``iterations``. Returns theta."""
    theta = theta.detach().clone().requires_grad_(True)
    optim = torch.optim.Adam([theta], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(iterations):
        rows = torch.randint(len(targets.points), (batch,), generator=gen)
        off = torch.randint(len(targets.jitter), (batch,), generator=gen)
        part = Targets(targets.points[rows], targets.normals[rows], targets.jitter[off])
        loss = total_loss(refine_terms(theta, part))
        optim.zero_grad()
        loss.backward()
        if step < sgd_steps:
            with torch.no_grad():
                theta -= alpha * theta.grad
        else:
            optim.step()
        if on_step is not None:
            on_step(step + 1, float(loss.detach()), time.perf_counter() - start)
    return theta.detach()


def project_to_zero(
    theta: torch.Tensor, points: np.ndarray, steps: int = 3, max_move: float = MAX_MOVE
) -> np.ndarray:
    """(N, 3) points moved onto ``h = 0`` by Newton steps ``x - h ∇h / |∇h|^2``, the total
    move capped at ``max_move`` (cube units)."""
    start = torch.as_tensor(np.asarray(points, np.float32))
    x = start.clone()
    for _ in range(steps):
        value, grad = sdf_and_gradient(theta, x)
        step = (value / grad.pow(2).sum(1).clamp_min(1e-6))[:, None] * grad
        x = (x - step).detach()
        move = x - start
        length = move.norm(dim=1, keepdim=True)
        x = start + move * torch.clamp(max_move / length.clamp_min(1e-12), max=1.0)
    return x.numpy().astype(np.float64)


def refine_rigged_sdf(
    rigged: RiggedMesh,
    normals: list[np.ndarray],
    iterations: int,
    theta0: torch.Tensor | None = None,
    losses: list[float] | None = None,
) -> RiggedMesh:
    """A rigged avatar's posed surface moved onto the zero set of ``h`` fitted for
    ``iterations`` steps from ``theta0`` (None: the geometric start), each moved vertex taken
    back to the rest pose through its own blended bone transform. ``losses`` collects the
    loss of every step."""
    cube = rigged.placement.to_cube(rigged.posed)
    targets = photo_targets(cube, rigged.faces, normals[0], normals[1])
    record = None if losses is None else (lambda step, loss, sec: losses.append(loss))
    start = geometric_theta() if theta0 is None else theta0
    theta = fit_theta(start, targets, iterations, on_step=record)
    posed = rigged.placement.to_subject(project_to_zero(theta, cube))
    rest = unskin(posed, rigged.weights, rigged.body.transforms)
    return replace(rigged, rest=rest, posed=posed)
