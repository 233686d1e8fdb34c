"""Training CAR's canonical model (``pifuhd.avatar.learned``) on prepared synthetic people.

``pifuhd train avatar --data DATA --out RUN`` does two things, both resumable:

1. **Cache** (``RUN/cache/<subject>@<yaw>.npz``, one file per view, skipped when present): the
   view's render over grey is reconstructed as a user's photo would be (the default model,
   body fit on), and points of the person's true rest-pose clothed mesh (``rest.obj`` beside
   the scan) are taken into the fitted body's canonical frame. Per view: ``SURFACE`` surface
   points with their normals, ``NEAR`` points moved off the surface (half by ``SIGMA_CM[0]``,
   half by ``SIGMA_CM[1]``, CAR's "perturbed" set) and ``SPACE`` points spread over the
   canonical box within ``REACH_CM`` of the body; for each, the model's features and their
   Jacobian (``canonical_features``).
2. **Fit** the network with IGR's losses at CAR's weights (``loss_terms``): ``|f|`` on the
   surface 1.0, ``exp(-10 |f|)`` off it 0.1, ``||∇f - n||`` on the surface 1.0, Eikonal
   ``(||∇f|| - 1)^2`` everywhere 0.1. Adam, a cosine learning rate, a checkpoint
   (``RUN/avatar_state.pt``) every ``SAVE_EVERY`` steps and the model as
   ``RUN/canonical_sdf.safetensors``.

Truth in the fit's canonical frame: the synthetic person's rest mesh stands on y = 0 with the
pelvis above the origin, as Anny's rest body does; it is brought to the fit's units by the ratio
of the fit's cube scale to the view's (as ``benchmarks/avatar_eval.py`` scores it).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh
from safetensors.torch import load_file

from pifuhd.avatar.canonical import REACH_CM
from pifuhd.avatar.learned import CanonicalSDF, PhotoEvidence, canonical_features, sdf_with_gradient
from pifuhd.avatar.run_files import model_file, save_run
from pifuhd.errors import InputError
from pifuhd.io.atomic import atomic_write

log = logging.getLogger("pifuhd.train")
SURFACE, NEAR, SPACE = 6000, 6000, 2000
SIGMA_CM = (2.0, 8.0)
WEIGHTS = {"surface": 1.0, "off_surface": 0.1, "normal": 1.0, "eikonal": 0.1}
"""CAR's IGR loss weights (``../shared/PAPER_NOTES.md`` §5)."""
SAVE_EVERY = 250
MODEL_FILE, STATE_FILE = "canonical_sdf.safetensors", "avatar_state.pt"


@dataclass
class AvatarTrainConfig:
    """Settings of ``pifuhd train avatar`` (``--set key=value``)."""

    steps: int = 3000
    lr: float = 5e-4
    batch_views: int = 8
    points_per_view: int = 1500
    views: str = "0,90,180,270"
    views_per_subject: int = 2
    subjects: int = 80
    skip: str = ""
    seed: int = 0
    resolution: int = 256
    width: int = 256
    depth: int = 4

    @classmethod
    def with_overrides(cls, overrides: list[str], steps: int | None) -> AvatarTrainConfig:
        config = cls()
        for item in overrides:
            key, _, value = item.partition("=")
            if not hasattr(config, key):
                raise InputError(f"--set {item}: unknown avatar setting {key!r}")
            kind = type(getattr(config, key))
            setattr(config, key, kind(value))
        if steps is not None:
            config.steps = steps
        return config


def truth_rest_mesh(folder: Path) -> trimesh.Trimesh:
    """The synthetic person's rest-pose clothed mesh in the prepared subject's cm."""
    subject = json.loads((folder / "subject.json").read_text())
    rest = Path(subject["scan"]["source"]).parent / "rest.obj"
    if not rest.is_file():
        raise InputError(f"{rest}: no rest-pose mesh; avatar training needs synthetic people")
    mesh = trimesh.load(rest, process=False, force="mesh")
    mesh.apply_scale(float(subject["scan"]["scale"]))
    return mesh


def cube_per_cm(calib: np.ndarray) -> float:
    """The view's cube units per subject cm (its calib's uniform scale)."""
    return float(np.cbrt(abs(np.linalg.det(np.asarray(calib, np.float64)[:3, :3]))))


def sample_points(
    truth: trimesh.Trimesh, evidence: PhotoEvidence, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) canonical points (cm, fit frame), (N, 3) normals (zero off the surface) and (N,)
    kinds (0 surface, 1 near, 2 space) for one view (module docstring)."""
    surface, faces = trimesh.sample.sample_surface(truth, SURFACE, seed=int(rng.integers(1 << 30)))
    normals = np.asarray(truth.face_normals)[faces]
    base, _ = trimesh.sample.sample_surface(truth, NEAR, seed=int(rng.integers(1 << 30)))
    sigma = np.where(np.arange(NEAR) < NEAR // 2, SIGMA_CM[0], SIGMA_CM[1])[:, None]
    near = base + rng.normal(size=base.shape) * sigma
    box, space = evidence.box, []
    while sum(len(s) for s in space) < SPACE:
        unit = rng.uniform(-1.0, 1.0, size=(4 * SPACE, 3))
        points = box.to_canonical(unit)
        dist, _ = evidence.rest_skin.tree.query(points)
        space.append(points[dist <= REACH_CM])
    space_points = np.concatenate(space)[:SPACE]
    points = np.concatenate([surface, near, space_points])
    all_normals = np.concatenate([normals, np.zeros((NEAR + SPACE, 3))])
    kinds = np.repeat(np.arange(3, dtype=np.int8), [SURFACE, NEAR, SPACE])
    return points, all_normals, kinds


def cache_view(reconstructor: Any, folder: Path, view: dict, out: Path, seed: int) -> bool:
    """Write one view's cache file (module docstring); False when no body was fitted."""
    from pifuhd.demo import composite
    from pifuhd.eval.heldout import _png

    rgb = _png(folder / "rgb" / view["file"])
    mask = _png(folder / "mask" / view["file"])[..., 0] > 0.5
    photo = composite(rgb, mask)
    result = reconstructor(photo, rect=f"0 0 {photo.shape[0]} {photo.shape[0]}")
    if result.body_fit is None:
        return False
    evidence = PhotoEvidence.of(result)
    ratio = evidence.placement.scale / cube_per_cm(view["calib"])
    truth = truth_rest_mesh(folder)
    truth.vertices = np.asarray(truth.vertices) / ratio
    points, normals, kinds = sample_points(truth, evidence, np.random.default_rng(seed))
    features, jacobian = canonical_features(evidence, points, jacobian=True)
    arrays = {"features": features, "jacobian": jacobian, "normals": normals, "kinds": kinds}
    with atomic_write(out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    return True


def build_cache(data: Path, run: Path, config: AvatarTrainConfig) -> list[Path]:
    """Cache the training views (skipping those already cached); returns the cache files."""
    from pifuhd.eval.heldout import view_records
    from pifuhd.inference import Reconstructor
    from pifuhd.weights import default_checkpoint

    skip = {s for s in config.skip.split(",") if s}
    names = sorted(p.name for p in (data / "subjects").iterdir() if p.name not in skip)
    names = names[: config.subjects]
    yaws = [float(y) for y in config.views.split(",")]
    per = min(config.views_per_subject, len(yaws))
    cache = run / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    reconstructor = None
    # subject i takes ``per`` of the yaws, turning by one from subject to subject
    todo = [(n, yaws[(i + j) % len(yaws)]) for i, n in enumerate(names) for j in range(per)]
    files = []
    for index, (name, yaw) in enumerate(todo):
        out = cache / f"{name}@{yaw:g}.npz"
        missing = out.with_suffix(".none")
        if out.is_file():
            files.append(out)
            continue
        if missing.is_file():
            continue
        if reconstructor is None:
            reconstructor = Reconstructor(default_checkpoint(), resolution=config.resolution)
            reconstructor.fit_body = True
        start = time.perf_counter()
        view = view_records(data / "subjects" / name, (yaw,))[0]
        if cache_view(reconstructor, data / "subjects" / name, view, out, config.seed + index):
            files.append(out)
        else:
            missing.write_text("no body fitted\n")
        seconds = time.perf_counter() - start
        log.info("cache %d/%d %s@%g (%.1f s)", index + 1, len(todo), name, yaw, seconds)
    return files


def loss_terms(model: CanonicalSDF, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """IGR's terms (module docstring) on a batch of cached points."""
    value, grad = sdf_with_gradient(model, batch["features"], batch["jacobian"])
    on = batch["kinds"] == 0
    norm = grad.norm(dim=1)
    return {
        "surface": value[on].abs().mean(),
        "off_surface": torch.exp(-10.0 * value[~on].abs()).mean(),
        "normal": (grad[on] - batch["normals"][on]).norm(dim=1).mean(),
        "eikonal": ((norm - 1.0) ** 2).mean(),
    }


def load_cache(files: list[Path]) -> list[dict[str, torch.Tensor]]:
    """Each cache file's arrays as tensors (kinds as int8)."""
    views = []
    for path in files:
        with np.load(path) as data:
            item = {k: torch.as_tensor(data[k]) for k in data.files}
        item["kinds"] = item["kinds"].to(torch.int8)
        views.append(item)
    return views


def draw_batch(
    views: list[dict[str, torch.Tensor]], config: AvatarTrainConfig, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """``batch_views`` random views, ``points_per_view`` random points of each."""
    picks = torch.randint(len(views), (config.batch_views,), generator=gen)
    parts = []
    for v in picks.tolist():
        count = len(views[v]["kinds"])
        rows = torch.randint(count, (config.points_per_view,), generator=gen)
        parts.append({k: t[rows] for k, t in views[v].items()})
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def train_canonical(
    data: Path, run: Path, config: AvatarTrainConfig, resume: bool, stop_after: int | None
) -> Path:
    """Cache, then fit (module docstring); returns the model file."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "avatar_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    files = build_cache(data, run, config)
    if not files:
        raise InputError(f"{data}: no view could be cached (no subjects, or no body fitted)")
    views = load_cache(files)
    log.info("%d views cached, %d points", len(views), sum(len(v["kinds"]) for v in views))
    torch.manual_seed(config.seed)
    model = CanonicalSDF(config.width, config.depth)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, gen = 0, torch.Generator().manual_seed(config.seed)
    state_path = run / STATE_FILE
    if resume and state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        step = int(state["step"])
        gen.set_state(state["gen"])
        log.info("resumed at step %d", step)
    last = config.steps if stop_after is None else min(config.steps, step + stop_after)
    start = time.perf_counter()
    while step < last:
        for group in optim.param_groups:
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        terms = loss_terms(model, draw_batch(views, config, gen))
        loss = sum(WEIGHTS[k] * v for k, v in terms.items())
        optim.zero_grad()
        loss.backward()
        optim.step()
        step += 1
        if step % 50 == 0 or step == last:
            parts = " ".join(f"{k} {v.item():.4f}" for k, v in terms.items())
            log.info("step %d loss %.4f %s (%.1f s)", step, loss.item(), parts,
                     time.perf_counter() - start)  # fmt: skip
        if step % SAVE_EVERY == 0 or step == last:
            save_state(run, model, optim, step, gen)
    return run / MODEL_FILE


def save_state(run: Path, model: CanonicalSDF, optim: Any, step: int, gen: Any) -> None:
    """The resumable state and the model file (its width and depth as metadata)."""
    meta = {"width": str(model.last.in_features), "depth": str(len(model.hidden))}
    save_run(run, (STATE_FILE, MODEL_FILE), model, optim, step, gen, meta)


def load_canonical_model(path: str | Path) -> CanonicalSDF:
    """A trained canonical model (``MODEL_FILE``, safetensors: data only)."""
    from safetensors import safe_open

    path = model_file(path, MODEL_FILE, "canonical model", "pifuhd train avatar")
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata() or {}
    model = CanonicalSDF(int(meta.get("width", 256)), int(meta.get("depth", 4)))
    model.load_state_dict(load_file(str(path)))
    return model.eval()
