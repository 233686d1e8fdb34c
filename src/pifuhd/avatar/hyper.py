"""CAR's hypernetwork: the fitted body in, the refinement network's weights out.

Liao et al., CVPR 2023, Sec. 3.3 (after MetaSDF, Sitzmann et al. 2020, and MetaAvatar, Wang et
al. 2021): a network reads the body model's posed vertices and normals (6 numbers a point, an
MLP of width 256, mean-pooled) and emits every weight and bias of the posed refinement network
(``pifuhd.avatar.refine_sdf``), so that refinement starts near the clothed person rather than
at a sphere. Meta-training (``meta_train``, ``pifuhd train avatar-hyper``), first order: per
synthetic view, ``theta_0 = H(body)``; ``INNER_STEPS`` plain gradient steps of size ``ALPHA``
on the refinement loss; the loss after them is differentiated with respect to the adapted
weights and that gradient is applied to ``theta_0`` (and so to ``H``). The refinement loss
during meta-training is the one the photo gives at test time, with the truth in place of the
photo: the true posed surface's points and normals.

Inputs: the fitted body (the prepared view's ``fit_vertices`` on Anny's mesh, cube frame),
``BODY_POINTS`` of its vertices, the same ones for every body.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch import nn

from pifuhd.avatar.refine_sdf import (
    Targets,
    geometric_theta,
    jittered,
    parameter_count,
    refine_terms,
    total_loss,
)
from pifuhd.avatar.run_files import model_file, save_run
from pifuhd.errors import InputError

log = logging.getLogger("pifuhd.train")
BODY_POINTS = 2048
INNER_STEPS, ALPHA = 2, 0.01
"""CAR's meta-training: 2 first-order inner steps of size 0.01."""
SURFACE_POINTS = 4000
HYPER_FILE, HYPER_STATE = "hyper.safetensors", "hyper_state.pt"


def body_points(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(BODY_POINTS, 6) float32: a fixed subset of the body's vertices and their unit normals
    (cube frame)."""
    mesh = trimesh.Trimesh(np.asarray(vertices), np.asarray(faces), process=False)
    pick = np.random.default_rng(0).permutation(len(vertices))[:BODY_POINTS]
    pick.sort()
    return np.concatenate([mesh.vertices[pick], mesh.vertex_normals[pick]], 1).astype(np.float32)


class BodyHyperNet(nn.Module):
    """(B, 6) body points -> (P,) refinement weights (module docstring). The output layer starts
    at zero with the geometric initialisation as its bias: untrained, it gives the plain start."""

    def __init__(self, width: int = 256):
        super().__init__()
        self.point = nn.Sequential(
            nn.Linear(6, 128), nn.ReLU(), nn.Linear(128, width), nn.ReLU(), nn.Linear(width, width)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.out = nn.Linear(width, parameter_count())
        with torch.no_grad():
            self.out.weight.zero_()
            self.out.bias.copy_(geometric_theta())

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        pooled = self.point(points).mean(dim=0)
        return self.out(self.head(pooled))


def view_item(folder: Path, index: int, faces: np.ndarray, seed: int) -> dict[str, torch.Tensor]:
    """One prepared view's meta-training item: body points, true surface points and normals
    (cube frame), Eikonal points around them."""
    from pifuhd.eval.evaluate import load_mesh_arrays

    views = json.loads((folder / "views.json").read_text())["views"]
    calib = np.asarray(views[index]["calib"], np.float64)
    with np.load(folder / "body" / f"{index:04d}.npz") as body:
        if not bool(body["fit_found"]):
            raise InputError(f"{folder.name} view {index}: no body fit")
        fit = np.asarray(body["fit_vertices"], np.float64)
    vertices, mesh_faces = load_mesh_arrays(folder / "mesh.ply")
    cube = vertices @ calib[:3, :3].T + calib[:3, 3]
    truth = trimesh.Trimesh(cube, mesh_faces, process=False)
    points, face_idx = trimesh.sample.sample_surface(truth, SURFACE_POINTS, seed=seed)
    normals = np.asarray(truth.face_normals)[face_idx]
    surface = torch.as_tensor(points, dtype=torch.float32)
    return {
        "body": torch.as_tensor(body_points(fit, faces)),
        "points": surface,
        "normals": torch.as_tensor(normals, dtype=torch.float32),
        "jitter": jittered(surface, seed),
    }


def adapt(theta0: torch.Tensor, targets: Targets) -> tuple[torch.Tensor, float]:
    """``INNER_STEPS`` plain steps from ``theta0`` (first order: the result is detached);
    returns the adapted weights and the loss before them."""
    theta = theta0.detach().clone().requires_grad_(True)
    first = None
    for _ in range(INNER_STEPS):
        loss = total_loss(refine_terms(theta, targets))
        first = float(loss.detach()) if first is None else first
        (grad,) = torch.autograd.grad(loss, theta)
        theta = (theta - ALPHA * grad).detach().requires_grad_(True)
    return theta, float(first or 0.0)


def meta_step(
    hyper: BodyHyperNet, item: dict[str, torch.Tensor], batch: int, gen: torch.Generator
) -> tuple[float, float]:
    """One first-order meta step's backward (module docstring): (loss at H's output, loss
    after the inner steps)."""
    rows = torch.randint(len(item["points"]), (batch,), generator=gen)
    off = torch.randint(len(item["jitter"]), (batch,), generator=gen)
    targets = Targets(item["points"][rows], item["normals"][rows], item["jitter"][off])
    theta0 = hyper(item["body"])
    adapted, before = adapt(theta0, targets)
    outer = total_loss(refine_terms(adapted, targets))
    (grad,) = torch.autograd.grad(outer, adapted)
    theta0.backward(grad)
    return before, float(outer.detach())


def meta_train(
    data: Path, run: Path, steps: int, subjects: int = 200, lr: float = 1e-4,
    batch: int = 2048, resume: bool = False, stop_after: int | None = None,
) -> Path:  # fmt: skip
    """Meta-train the hypernetwork on prepared synthetic people (two views each, turning
    with the subject index); checkpoints every 100 steps, resumable. Returns the model file."""
    names = sorted(p.name for p in (data / "subjects").iterdir())[:subjects]
    if not names:
        raise InputError(f"{data}: no prepared subjects")
    run.mkdir(parents=True, exist_ok=True)
    faces_cache: dict[str, np.ndarray] = {}
    hyper = BodyHyperNet()
    optim = torch.optim.Adam(hyper.parameters(), lr=lr)
    step, gen = 0, torch.Generator().manual_seed(0)
    if resume and (run / HYPER_STATE).is_file():
        state = torch.load(run / HYPER_STATE, weights_only=True)
        hyper.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        step = int(state["step"])
        gen.set_state(state["gen"])
    last = steps if stop_after is None else min(steps, step + stop_after)
    items: dict[tuple[str, int], dict] = {}
    start, history = time.perf_counter(), []
    while step < last:
        name = names[int(torch.randint(len(names), (1,), generator=gen))]
        index = (names.index(name) * 3 + int(torch.randint(2, (1,), generator=gen)) * 4) % 8
        key = (name, index)
        if key not in items:
            folder = data / "subjects" / name
            faces = faces_cache.setdefault(name, np.load(folder / "body" / "faces.npy"))
            try:
                items[key] = view_item(folder, index, faces, seed=len(items))
            except InputError as exc:
                log.warning("%s", exc)
                items[key] = {}
        if not items[key]:
            continue
        for group in optim.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        optim.zero_grad()
        before, after = meta_step(hyper, items[key], batch, gen)
        optim.step()
        step += 1
        history.append((before, after))
        if step % 25 == 0 or step == last:
            mean = np.mean(history[-25:], axis=0)
            log.info("meta step %d: loss at H %.4f, after %d inner steps %.4f (%.0f s)",
                     step, mean[0], INNER_STEPS, mean[1], time.perf_counter() - start)  # fmt: skip
        if step % 100 == 0 or step == last:
            save_run(run, (HYPER_STATE, HYPER_FILE), hyper, optim, step, gen)
    return run / HYPER_FILE


def load_hyper(path: str | Path) -> BodyHyperNet:
    """A meta-trained hypernetwork (safetensors, data only; a run folder works too)."""
    from safetensors.torch import load_file

    path = model_file(path, HYPER_FILE, "hypernetwork", "pifuhd train avatar-hyper")
    hyper = BodyHyperNet()
    hyper.load_state_dict(load_file(str(path)))
    return hyper.eval()
