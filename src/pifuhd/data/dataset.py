"""Training datasets over the layout written by ``pifuhd prepare`` (``docs/data_format.md``).

One item is one (subject, view): the image composited on a background, the ground-truth
normal maps and mask, and a balanced subset of labelled points, all under one random
augmentation (:mod:`pifuhd.data.augment`) whose effect is folded into ``calib``.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pifuhd.data.asset import IMAGE_HALF_EXTENT
from pifuhd.data.augment import (
    AugmentConfig,
    color_jitter,
    flip_normals,
    procedural_background,
    random_similarity,
    warp_images,
)
from pifuhd.data.bodies import BODY_SOURCES, view_body_field, view_body_mesh
from pifuhd.data.manifest import check_data_format
from pifuhd.data.points import PointConfig, choose_points, on_mask
from pifuhd.errors import InputError
from pifuhd.geometry.body_field import BODY_CHANNELS, BodyField, similarity_features
from pifuhd.geometry.body_normals import body_normal_maps

log = logging.getLogger(__name__)

FINE_FULL = 1024
"""Default side of the full fine image; fine items carry a random crop of it."""


def coarse_points() -> PointConfig:
    """Coarse level: sigma 5 cm and the wide sigma, a quarter uniform."""
    return PointConfig(surface_kinds=(0, 2))


def fine_points() -> PointConfig:
    """Fine level: sigma 3 cm (the paper's) and the wide sigma, a quarter uniform.

    The fine MLP sees depth only through Omega. With sigma 3 cm and a tenth uniform it
    almost never saw an "outside" point far from the surface in depth, and a model trained
    that way (200 fine steps) filled whole depth columns at the top and bottom of the crop
    (a "pedestal" in side views), so the fine level gets the coarse level's mix.
    """
    return PointConfig(surface_kinds=(1, 2), uniform_fraction=0.25)


@dataclass
class _Subject:
    name: str
    folder: Path
    views: list[dict] = field(default_factory=list)


def list_subjects(root: Path) -> list[str]:
    """Names of the complete subjects (with ``subject.json``) under ``root/subjects``."""
    folder = Path(root) / "subjects"
    if not folder.is_dir():
        raise InputError(f"{root}: no subjects/ folder; run `pifuhd prepare SCANS --out {root}`")
    check_data_format(Path(root))
    return sorted(p.parent.name for p in folder.glob("*/subject.json"))


def split_subjects(
    names: list[str], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Deterministic (train, validation) split by a seeded hash of each name.

    A subject's side does not change when others are added or removed.
    """
    val = [n for n in names if _unit_hash(seed, n) < val_fraction]
    train = [n for n in names if n not in set(val)]
    return train, val


def _unit_hash(seed: int, name: str) -> float:
    return zlib.crc32(f"{seed}:{name}".encode()) / 2**32


class OccupancyDataset(torch.utils.data.Dataset):
    """(subject, view) items for the coarse or fine level.

    Item keys (S = ``image_size``, N = points):
        ``image``: (3, S, S) float32 in [-1, 1], the colour render over a background.
        ``normal_front``, ``normal_back``: (3, S, S) float32 unit view-frame normals (0 off
        the body), ``mask``: (1, S, S) float32 in [0, 1].
        ``points``: (3, N) float32 in the (augmented) normalised cube; ``labels``: (1, N)
        float32, 1 inside. ``calib``: (4, 4) float32, subject cm -> augmented cube, so
        ``points = calib @ subject_points``. Project with ``diag(1, -1, 1)``.
        Fine level also: ``image_fine`` (3, C, C) a random crop of the full fine image (side
        ``fine_size``, 1024 by default; C = ``crop_size``), ``fine_calib`` (4, 4) cube -> crop
        (u, v, z) with u, v in [-1, 1] (``align_corners=True``), and ``crop`` (2,) its top-left
        pixel; ``points`` are drawn inside the crop. ``image`` is then the full fine image
        area-downsampled to S, so both levels see one composite (same background and
        jitter). ``crop_size == fine_size`` gives the whole image (validation).
        ``subject`` and ``view`` name the item.
    """

    def __init__(
        self,
        root: Path,
        subjects: list[str] | None = None,
        *,
        level: str = "coarse",
        points: PointConfig | None = None,
        augment: AugmentConfig | None = None,
        image_size: int = 512,
        crop_size: int = 512,
        fine_size: int = FINE_FULL,
        light: str = "rgb",
        seed: int = 0,
        cache_subjects: int = 64,
        bodies: str = "none",
        body_dropout: float = 0.0,
        body_normals: bool = False,
    ) -> None:
        if level not in ("coarse", "fine"):
            raise ValueError(f"level must be 'coarse' or 'fine', not {level!r}")
        if level == "fine" and not 2 <= crop_size <= fine_size:
            raise ValueError(f"crop_size {crop_size} must be in 2..fine_size ({fine_size})")
        self.root = Path(root)
        names = list_subjects(self.root) if subjects is None else list(subjects)
        if not names:
            raise InputError(f"{root}: no complete subjects; run `pifuhd prepare` first")
        self.subjects = [self._read_subject(n) for n in names]
        self.index = [
            (s, v) for s in range(len(self.subjects)) for v in range(len(self.subjects[s].views))
        ]
        self.level = level
        self.points = points or (coarse_points() if level == "coarse" else fine_points())
        self.augment = augment if augment is not None else AugmentConfig()
        self.image_size = image_size
        self.crop_size = crop_size
        self.fine_size = fine_size
        self.light = light
        self.seed = seed
        self.epoch = 0
        self._cache: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._cache_size = cache_subjects
        self._backgrounds = _background_files(self.augment.background)
        if bodies not in BODY_SOURCES:
            raise ValueError(f"bodies must be one of {BODY_SOURCES}, not {bodies!r}")
        self.bodies = bodies
        self.body_dropout = body_dropout
        if body_normals and bodies == "none":
            raise ValueError("body_normals needs bodies 'fit' or 'true'")
        self.body_normals = body_normals

    def _read_subject(self, name: str) -> _Subject:
        folder = self.root / "subjects" / name
        try:
            views = json.loads((folder / "views.json").read_text())["views"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{folder}: views.json unreadable ({exc}); re-run prepare") from exc
        return _Subject(name, folder, views)

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (augmentation, points) for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | str | int]:
        s, v = self.index[i]
        subject, view = self.subjects[s], self.subjects[s].views[v]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        stem = view["file"]
        similarity = random_similarity(self.augment, rng)
        calib = similarity @ np.asarray(view["calib"], dtype=np.float64)

        size = self.image_size
        mask = _load(subject.folder / "mask" / stem, size)
        normals_f = _load_normals(subject.folder / "normal_front" / stem, size)
        normals_b = _load_normals(subject.folder / "normal_back" / stem, size)
        item: dict[str, torch.Tensor | str | int] = {}
        if self.level == "fine":
            full_mask = _load(subject.folder / "mask" / stem, self.fine_size)
            full_rgb = _load(subject.folder / self.light / stem, self.fine_size)
            big = self._compose(full_rgb, full_mask, similarity, rng, self.fine_size)
            image = _downsample(big, size)
        else:
            rgb_name = self.light if size == FINE_FULL else f"{self.light}_{size}"
            if not (subject.folder / rgb_name / stem).is_file():
                rgb_name = self.light
            rgb = _load(subject.folder / rgb_name / stem, size)
            image = self._compose(rgb, mask, similarity, rng, size)
        item["image"] = image * 2.0 - 1.0
        item["mask"] = warp_images(mask, similarity)
        item["normal_front"] = flip_normals(warp_images(normals_f, similarity), similarity)
        item["normal_back"] = flip_normals(warp_images(normals_b, similarity), similarity)
        item["calib"] = torch.from_numpy(calib.astype(np.float32))

        samples = self._samples(subject)
        cube = _transform(calib, samples["points"])
        region = np.all(np.abs(cube) <= 1.0, axis=1)
        if self.level == "fine":
            crop, fine_calib = _random_crop(warp_images(full_mask, similarity), self.crop_size, rng)
            x0, y0 = crop
            item["image_fine"] = big[:, y0 : y0 + self.crop_size, x0 : x0 + self.crop_size] * 2 - 1
            item["fine_calib"] = torch.from_numpy(fine_calib.astype(np.float32))
            item["crop"] = torch.tensor(crop)
            uv = _transform(fine_calib, cube)[:, :2]
            region &= np.all(np.abs(uv) <= 1.0, axis=1)
        person = on_mask(cube, item["mask"][0].numpy()) if self.points.ray_fraction else None
        chosen = choose_points(samples, region, self.points, rng, person)
        item["points"] = torch.from_numpy(cube[chosen].T.astype(np.float32))
        item["labels"] = torch.from_numpy(samples["inside"][chosen][None].astype(np.float32))
        if self.bodies != "none":  # drawn last: the other draws match a run without bodies
            dropped = rng.random() < self.body_dropout
            field = None if dropped else self.body_field(s, v)
            item["body"] = torch.from_numpy(
                np.zeros((BODY_CHANNELS, len(chosen)), np.float32)
                if field is None
                else similarity_features(field, cube[chosen], similarity)
            )
            if self.body_normals:
                item["body_normals"] = self.view_body_normals(s, v, similarity, dropped)
        item["subject"] = subject.name
        item["view"] = int(view["index"])
        return item

    def view_body_normals(
        self, s: int, v: int, similarity: np.ndarray, dropped: bool
    ) -> torch.Tensor:
        """(6, S, S) the view's body front/back normal maps (``body_normals``) warped by the
        item's augmentation as its true normal maps are; zeros for a dropped body."""
        size = self.image_size
        if dropped:
            return torch.zeros((6, size, size))
        subject = self.subjects[s]
        vertices, faces = view_body_mesh(
            subject.folder, int(subject.views[v]["index"]), self.bodies
        )
        maps = torch.from_numpy(body_normal_maps(vertices, faces, size))
        return torch.cat([flip_normals(warp_images(m, similarity), similarity) for m in maps])

    def body_field(self, s: int, v: int) -> BodyField:
        """The body field (``pifuhd.geometry.body_field``) of subject ``s``'s view ``v`` in
        its (unaugmented) cube, from the view's body file (``pifuhd.data.bodies``)."""
        subject = self.subjects[s]
        index = int(subject.views[v]["index"])
        return view_body_field(subject.folder, index, self.bodies)

    def _compose(
        self,
        rgb: torch.Tensor,
        mask: torch.Tensor,
        similarity: np.ndarray,
        rng: np.random.Generator,
        size: int,
    ) -> torch.Tensor:
        """Jitter the person, warp, and composite over a background: (3, S, S) in [0, 1]."""
        if self.augment.brightness or self.augment.contrast or self.augment.saturation:
            rgb = color_jitter(rgb, self.augment, rng)
        person = warp_images(rgb * mask, similarity)
        alpha = warp_images(mask, similarity)
        background = self._background(size, rng)
        return person + background * (1.0 - alpha)

    def _background(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        if self._backgrounds:
            path = self._backgrounds[int(rng.integers(len(self._backgrounds)))]
            return _load(path, size)
        if self.augment.background == "procedural":
            return procedural_background(size, rng)
        return torch.full((3, size, size), 0.5)

    def _samples(self, subject: _Subject) -> dict[str, np.ndarray]:
        if subject.name in self._cache:
            self._cache.move_to_end(subject.name)
            return self._cache[subject.name]
        path = subject.folder / "samples.npz"
        with np.load(path) as data:
            samples = {k: data[k] for k in ("points", "inside", "kind", "sigmas_cm")}
        self._cache[subject.name] = samples
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return samples


def _transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points under a (4, 4) affine matrix."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def _random_crop(
    mask: torch.Tensor, crop: int, rng: np.random.Generator
) -> tuple[tuple[int, int], np.ndarray]:
    """A crop origin (x0, y0) of the full fine image and its cube -> crop calibration (4, 4).

    The crop is centred on a random person pixel of ``mask`` (1, n, n) (anywhere if the mask
    is empty), clamped to the image. Pixel ``i`` of the n-pixel image sits at cube
    ``x = E (2 (i + 0.5) / n - 1)`` (``pifuhd.data.asset.pixel_centers``, E =
    ``IMAGE_HALF_EXTENT``; for n = 1024 that is ``-1 + 2 i / 1023``) and crop pixel ``j`` at
    ``u = -1 + 2 j / (C - 1)``, so ``u = a x + b`` with ``a = n / (E (C - 1))``; rows run
    down, so ``v = -a y + b'``. The matrix gives ``grid_sample`` coordinates directly (it
    replaces ``diag(1, -1, 1)``).
    """
    n = mask.shape[-1]
    ys, xs = np.nonzero(mask[0].numpy() > 0.5)
    if len(xs):
        k = int(rng.integers(len(xs)))
        cx, cy = int(xs[k]), int(ys[k])
    else:
        cx, cy = (int(v) for v in rng.integers(0, n, size=2))
    x0 = int(np.clip(cx - crop // 2, 0, n - crop))
    y0 = int(np.clip(cy - crop // 2, 0, n - crop))
    a = n / (IMAGE_HALF_EXTENT * (crop - 1))
    bx = -1.0 + ((n - 1) - 2 * x0) / (crop - 1)
    by = -1.0 + ((n - 1) - 2 * y0) / (crop - 1)
    matrix = np.array([[a, 0, 0, bx], [0, -a, 0, by], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    return (x0, y0), matrix


def _downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, size, size) by area averaging (unchanged when already that size)."""
    side = image.shape[-1]
    if side == size:
        return image
    if side % size == 0:  # the common case (1024 -> 512); avg_pool2d is 3x faster than "area"
        return F.avg_pool2d(image[None], side // size)[0]
    return F.interpolate(image[None], size=(size, size), mode="area")[0]


def _load(path: Path, size: int) -> torch.Tensor:
    """A PNG as (C, size, size) float32 in [0, 1] (box-downsampled when larger)."""
    try:
        with Image.open(path) as img:
            img.load()
            array = np.asarray(img)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc}); re-run prepare") from exc
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    tensor = torch.from_numpy(array.astype(np.float32) / scale)
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)[:3]
    return _downsample(tensor, size)


def _load_normals(path: Path, size: int) -> torch.Tensor:
    """A normal-map PNG as (3, size, size) unit vectors (0 off the body).

    Decodes like :func:`pifuhd.data.render.rgb8_to_normal` (``code / 127.5 - 1``, code
    (0, 0, 0) is background) but in float32 torch, area-downsamples first when ``size`` is
    smaller than the file, and renormalises once at the output size: about 10x faster than
    decoding the full map in float64, which made data loading the bottleneck of training.
    """
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB"))
    code = torch.from_numpy(array.copy()).permute(2, 0, 1)
    normals = code.float().mul_(1.0 / 127.5).sub_(1.0)
    normals.mul_((code != 0).any(dim=0, keepdim=True))
    normals = _downsample(normals, size)
    length = (normals[0:1] ** 2 + normals[1:2] ** 2 + normals[2:3] ** 2).sqrt()
    return torch.where(length > 0.5, normals / length.clamp_min(1e-6), 0.0)


def _background_files(spec: str) -> list[Path]:
    if spec in ("procedural", "grey"):
        return []
    folder = Path(spec)
    if not folder.is_dir():
        raise InputError(f"background folder {folder} not found; pass a folder or 'procedural'")
    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    )
    if not files:
        raise InputError(f"{folder}: no background images (png/jpg/webp)")
    return files
