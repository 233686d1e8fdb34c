"""Validation on held-out subjects: occupancy IoU / precision / recall, normal-map L1, colour
L1 and CIEDE2000, and a mesh of one held-out view reconstructed with the inference grid and
marching cubes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch.utils.data import default_collate

from pifuhd.data.augment import AugmentConfig
from pifuhd.data.dataset import OccupancyDataset, PointConfig
from pifuhd.geometry.body_field import sample_field
from pifuhd.geometry.grid import evaluate_coarse_to_fine
from pifuhd.geometry.marching import extract_mesh
from pifuhd.geometry.projection import default_calib
from pifuhd.io.mesh import save_mesh
from pifuhd.models.color import ColorNet
from pifuhd.models.pifuhd import PIFuHD, PIFuHDFeatures
from pifuhd.train.color_stage import color_validation_dataset, validate_color
from pifuhd.train.config import TrainConfig
from pifuhd.train.levels import Batch, encoder_normals, ground_truth_normals
from pifuhd.train.losses import confusion_counts, iou_precision_recall

log = logging.getLogger(__name__)

VAL_SURFACE_KINDS = (0, 1)
"""Near-surface samples of the coarse (5 cm) and fine (3 cm) sigmas."""


def validation_dataset(
    root: Path, subjects: list[str], model: PIFuHD, points: int, seed: int, bodies: str = "none"
) -> OccupancyDataset:
    """Held-out items without augmentation (grey background), each with the whole fine
    image as its "crop" (``fine_calib`` maps the cube onto it) and ``points`` labelled
    points, a quarter uniform; a body-guided model's items carry ``bodies`` (never dropped)."""
    full = model.config.fine.image_size
    reads_body = bool(model.config.coarse.body_channels) or model.netG.body_normals
    bodies = bodies if reads_body else "none"
    return OccupancyDataset(
        root,
        subjects,
        level="fine",
        points=PointConfig(count=max(points, 1), surface_kinds=VAL_SURFACE_KINDS),
        augment=AugmentConfig.none(),
        image_size=model.config.coarse.image_size,
        crop_size=full,
        fine_size=full,
        seed=seed,
        bodies=bodies,
        body_normals=model.netG.body_normals and bodies != "none",
    )


def run_validation_dataset(
    config: TrainConfig, model: PIFuHD, subjects: list[str]
) -> OccupancyDataset:
    """The held-out dataset of a run's stage (colour items for the colour stage)."""
    if config.stage == "color":
        return color_validation_dataset(config, model, subjects)
    return validation_dataset(
        Path(config.data), subjects, model, config.val_points, config.seed, config.bodies
    )


def run_validation(
    model: PIFuHD,
    dataset: OccupancyDataset,
    config: TrainConfig,
    step: int,
    run_dir: Path,
    device: torch.device,
    color: ColorNet | None = None,
) -> dict[str, float]:
    """One validation of a run at ``step``: the stage's metrics over ``val_items`` items,
    the mesh of the first one in ``RUN/val/`` (occupancy stages, ``val_resolution`` > 0;
    ``mesh_faces`` and its distances to the subject, ``mesh_chamfer_cm`` / ``mesh_p2s_cm``:
    a surface thickened away from the validation points shows there, not in the IoU) and
    ``seconds``."""
    start = time.perf_counter()
    indices = spread_indices(len(dataset), config.val_items)
    if color is not None:
        metrics = validate_color(model, color, dataset, indices, config.normals_input, device)
    else:
        metrics = validate(model, dataset, indices, config.stage, config.normals_input, device)
    if config.val_resolution and config.stage not in ("normals", "color"):
        level = "coarse" if config.stage == "coarse" else "fine"
        subject, view = dataset.index[indices[0]]
        name = f"step_{step:07d}_{dataset.subjects[subject].name}_{view:04d}.obj"
        path = run_dir / "val" / name
        faces, distances = validation_mesh(
            model, dataset, indices[0], level, config.normals_input, config.val_resolution, path,
            device,
        )  # fmt: skip
        metrics["mesh_faces"] = faces
        metrics.update(distances)
    metrics["seconds"] = time.perf_counter() - start
    return metrics


def format_metrics(metrics: dict[str, float]) -> str:
    """``name value`` pairs for a log line (floats to 4 significant digits)."""
    return "  ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )


def spread_indices(count: int, wanted: int) -> list[int]:
    """Up to ``wanted`` item indices spread evenly over ``count`` items (first one included)."""
    if count == 0:
        return []
    return sorted({round(float(i)) for i in np.linspace(0, count - 1, min(wanted, count))})


def to_device(batch: dict, device: torch.device) -> Batch:
    """Tensors of a collated batch moved to ``device`` (other entries dropped)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}


def encode_item(
    model: PIFuHD, batch: Batch, normals: list[torch.Tensor], fine: bool = True
) -> PIFuHDFeatures:
    """Both levels' features of a validation batch (whole fine image), as at inference but
    with the given normal maps. ``fine`` False skips the fine encoder (an empty stand-in:
    only the coarse outputs are meaningful then)."""
    net = model.netG
    coarse = net.image_filter(net.encoder_input(batch["image"], normals), last_only=True)[-1]
    if fine:
        fine_in = net.encoder_input(batch["image_fine"], normals)
        fine_map = model.image_filter(fine_in, last_only=True)[-1]
    else:
        fine_map = coarse.new_zeros(coarse.shape[0], model.config.fine.encoder.out_channels, 2, 2)
    return PIFuHDFeatures(coarse=coarse, fine=fine_map, normals=normals)


@torch.no_grad()
def validate(
    model: PIFuHD,
    dataset: OccupancyDataset,
    indices: list[int],
    stage: str,
    normals_input: str,
    device: torch.device,
) -> dict[str, float]:
    """Metrics over the items ``indices`` of ``dataset``.

    normals stage: ``normal_l1`` (mean |predicted - ground truth| over front and back maps).
    Other stages: ``coarse_iou`` / ``coarse_precision`` / ``coarse_recall`` of coarse
    occupancy > 0.5 at the labelled points, plus ``fine_*`` for the fine and all stages.
    """
    model.eval()
    coarse_counts = torch.zeros(3, dtype=torch.float64)
    fine_counts = torch.zeros(3, dtype=torch.float64)
    l1_sum, l1_n = 0.0, 0
    for index in indices:
        batch = to_device(default_collate([dataset[index]]), device)
        if stage == "normals":
            predicted = model.netG.predict_normals(batch["image"], batch.get("body_normals"))
            for pred, target in zip(predicted, ground_truth_normals(model, batch), strict=True):
                l1_sum += float((pred.float() - target).abs().mean())
                l1_n += 1
            continue
        normals = encoder_normals(model, batch, normals_input)
        features = encode_item(model, batch, normals, fine=stage != "coarse")
        calib = default_calib(1, device)
        coarse, fine = model.query_levels(
            features, batch["points"], calib, fine_calib=batch["fine_calib"], body=batch.get("body")
        )
        coarse_counts += confusion_counts(coarse, batch["labels"])
        fine_counts += confusion_counts(fine, batch["labels"])
    if stage == "normals":
        return {"normal_l1": l1_sum / max(l1_n, 1)}
    metrics = {f"coarse_{k}": v for k, v in iou_precision_recall(coarse_counts).items()}
    if stage in ("fine", "all"):
        metrics.update({f"fine_{k}": v for k, v in iou_precision_recall(fine_counts).items()})
    return metrics


@torch.no_grad()
def validation_mesh(
    model: PIFuHD,
    dataset: OccupancyDataset,
    index: int,
    level: str,
    normals_input: str,
    resolution: int,
    path: Path,
    device: torch.device,
) -> tuple[int, dict[str, float]]:
    """Reconstruct item ``index`` (its coarse image and whole fine image) on a
    ``resolution``^3 grid, coarse to fine, and save the mesh at ``path`` (OBJ).

    ``level`` "coarse" meshes the coarse occupancy, "fine" the fine one. Returns the number
    of faces (0: no surface at 0.5, nothing written) and :func:`mesh_distances` to the
    subject's mesh (empty without a surface).
    """
    model.eval()
    batch = to_device(default_collate([dataset[index]]), device)
    normals = encoder_normals(model, batch, normals_input)
    features = encode_item(model, batch, normals, fine=level == "fine")
    if "body" in batch:  # the view's body field (no augmentation: the item's cube is the view's)
        field = dataset.body_field(*dataset.index[index])
        features.body = lambda points: sample_field(field, points.cpu()).to(points.device)
    calib = default_calib(1, device)

    def query(points: np.ndarray) -> np.ndarray:
        pts = torch.from_numpy(points).to(device).T.unsqueeze(0)
        coarse, fine = model.query_levels(features, pts, calib)
        occupancy = coarse if level == "coarse" else fine
        return occupancy[0, 0].float().cpu().numpy()

    volume, _ = evaluate_coarse_to_fine(query, resolution, chunk=65536)
    mesh = extract_mesh(volume, level=0.5)
    if len(mesh.faces) == 0:
        log.info("validation mesh: no surface at 0.5 yet (step %s)", path.stem)
        return 0, {}
    save_mesh(mesh, path)
    subject = dataset.subjects[dataset.index[index][0]]
    calib = batch["calib"][0].double().cpu().numpy()
    return len(mesh.faces), mesh_distances(mesh, calib, subject.folder / "mesh.ply")


def mesh_distances(
    mesh: trimesh.Trimesh, calib: np.ndarray, truth_path: Path, samples: int = 5000
) -> dict[str, float]:
    """``mesh_chamfer_cm`` and ``mesh_p2s_cm`` (prediction to truth) of a cube-frame mesh
    against the subject's mesh (subject frame, cm); ``calib`` (4, 4) maps subject -> cube.
    Sampled as ``pifuhd evaluate`` does (``pifuhd.eval.metrics``), ``samples`` points a side."""
    from pifuhd.eval.metrics import point_to_surface, surface_samples

    inverse = np.linalg.inv(calib)
    pred = np.asarray(mesh.vertices, dtype=np.float64) @ inverse[:3, :3].T + inverse[:3, 3]
    truth = trimesh.load(truth_path, process=False)
    tv, tf = np.asarray(truth.vertices, dtype=np.float64), np.asarray(truth.faces)
    rng = np.random.default_rng(0)
    to_truth = point_to_surface(surface_samples(pred, np.asarray(mesh.faces), samples, rng), tv, tf)
    to_pred = point_to_surface(surface_samples(tv, tf, samples, rng), pred, np.asarray(mesh.faces))
    return {
        "mesh_chamfer_cm": float((to_truth.mean() + to_pred.mean()) / 2.0),
        "mesh_p2s_cm": float(to_truth.mean()),
    }
