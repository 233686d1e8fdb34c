"""Training items of the colour network: an image under one of several lights, and coloured
points (``colors.npz`` of ``pifuhd prepare``) around the surface.

Lighting augmentation ("Avatar Texture Enhancement", PAPER_NOTES section 4): every item draws
its colour render from a list of lights, by default every one the data has: ``rgb`` (a random
spherical-harmonics environment per view) and the fixed presets ``rgb_wild``,
``rgb_intermediate`` and ``rgb_clear``. The targets are always the albedo, so the network
learns to undo the shading.

Points (PIFu's colour sampling): colour samples (area-uniform surface points with their normal
and albedo) moved along their normal by Gaussian noise of ``offset_cm``; the target of a moved
point is the albedo of the surface point it came from.

Patches (3D patch-wise SSIM): around ``patches`` more moved colour samples, a cubic grid of
``patch_size``^3 points ``patch_spacing_cm`` apart (axes of the subject frame, in the layout of
``pifuhd.train.patch_ssim.patch_points``). Grid points lie off the surface, where the scan has
no colour: each takes the albedo of its nearest colour sample (a KD-tree over the subject's
``colors.npz`` points, about 0.5 cm apart for 100,000 samples of a person), i.e. the albedo
field extended along the surface normal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from pifuhd.data.augment import AugmentConfig, flip_normals, random_similarity, warp_images
from pifuhd.data.dataset import (
    FINE_FULL,
    OccupancyDataset,
    _load,
    _load_normals,
    _transform,
)
from pifuhd.errors import InputError
from pifuhd.surface_colors import person_image

log = logging.getLogger(__name__)

LIGHTS = ("rgb", "rgb_wild", "rgb_intermediate", "rgb_clear")
"""Colour renders of ``pifuhd prepare``: random SH light, then the three light presets."""
LIGHT_HARSHNESS = {"rgb": 1.0, "rgb_wild": 1.0, "rgb_intermediate": 1.0, "rgb_clear": 0.0}
"""The harshness of each render's light (``ColorConfig.light_input``), as
``pifuhd.photo_light.light_harshness`` judges the presets on validation people: the clear
preset soft (0), the other presets harsh (1, BENCHMARKS.md session 37). The random SH lights
are mostly directional and coloured: harsh."""


@dataclass(frozen=True)
class ColorSampling:
    """Which coloured points a colour item carries."""

    count: int = 8000
    """Coloured points per item (the L1 term)."""
    offset_cm: float = 1.0
    """Standard deviation of the offset along the normal, cm (0: on the surface)."""
    patches: int = 0
    """Patch centres per item (the SSIM term); 0 = no patches."""
    patch_size: int = 3
    """Grid points per patch axis (odd)."""
    patch_spacing_cm: float = 1.0
    """Distance between neighbouring grid points of a patch, cm."""


def grid_offsets(size: int, spacing: float) -> np.ndarray:
    """(size^3, 3) float64 offsets of a cubic grid centred on 0, spacing apart; row
    p = (i * size + j) * size + k is (i, j, k) * spacing - (size - 1) / 2 * spacing (the
    layout of ``pifuhd.train.patch_ssim.patch_offsets``)."""
    if size < 1 or size % 2 != 1:
        raise ValueError(f"patch size must be odd and >= 1, got {size}")
    steps = (np.arange(size) - (size - 1) / 2) * spacing
    grid = np.meshgrid(steps, steps, steps, indexing="ij")
    return np.stack(grid, axis=-1).reshape(-1, 3)


def available_lights(
    folders: list[Path], stems: list[str], wanted: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The lights every subject folder has a render of (``stems[i]`` a view file of
    ``folders[i]``); ``wanted`` (names like ``rgb_wild`` or ``wild``) restricts them and must
    all be there.

    Raises:
        InputError: an unknown or missing light, or none at all.
    """
    names = tuple(w if w.startswith("rgb") else f"rgb_{w}" for w in wanted)
    unknown = sorted(set(names) - set(LIGHTS))
    if unknown:
        raise InputError(f"unknown light {unknown[0]!r}; choose from {', '.join(LIGHTS)}")
    present = [
        light
        for light in LIGHTS
        if all((f / light / s).is_file() for f, s in zip(folders, stems, strict=True))
    ]
    if names:
        missing = [n for n in names if n not in present]
        if missing:
            raise InputError(
                f"light {missing[0]!r} is not rendered for every subject; re-run `pifuhd "
                f"prepare --presets wild,intermediate,clear` or drop it"
            )
        return names
    if not present:
        raise InputError("no colour renders (rgb/) in the data; re-run `pifuhd prepare`")
    return tuple(present)


class ColorDataset(OccupancyDataset):
    """(subject, view) items for the colour stage.

    Item keys (S = ``image_size``, N = ``sampling.count``, M = ``sampling.patches``,
    P = ``patch_size``^3):
        ``image``: (3, S, S) float32 in [-1, 1], the render under the item's light over a
        background; ``normal_front``, ``normal_back``: (3, S, S) as in ``OccupancyDataset``
        (for the frozen geometry encoder); ``calib``: (4, 4) subject cm -> augmented cube.
        ``color_points``: (3, N) float32 in the augmented cube; ``color_targets``: (3, N)
        float32 albedo, sRGB in [0, 1].
        With patches: ``patch_points`` (3, M * P) in the augmented cube, patch n at columns
        n * P .. n * P + P - 1; ``patch_targets`` (3, M * P) albedo of the nearest colour sample.
        With ``photo``: ``photo`` (3, S, S) in [-1, 1], the image with the pixels beyond the
        person mask's edge taken from within (``pifuhd.surface_colors.person_image``, as
        ``--texture photo`` fills the fine crop), for a ``sharp_residual`` net.
        ``light`` (str), ``subject`` and ``view`` name the item.
    All random draws come from ``(seed, epoch, index)``.
    """

    def __init__(
        self,
        root: Path,
        subjects: list[str] | None = None,
        *,
        sampling: ColorSampling | None = None,
        lights: tuple[str, ...] = (),
        augment: AugmentConfig | None = None,
        image_size: int = 512,
        seed: int = 0,
        cache_subjects: int = 64,
        photo: bool = False,
    ) -> None:
        super().__init__(
            root,
            subjects,
            level="coarse",
            augment=augment,
            image_size=image_size,
            seed=seed,
            cache_subjects=cache_subjects,
        )
        self.sampling = sampling or ColorSampling()
        self.photo = photo
        folders = [s.folder for s in self.subjects]
        stems = [s.views[0]["file"] for s in self.subjects]
        self.lights = available_lights(folders, stems, lights)
        self._offsets = grid_offsets(self.sampling.patch_size, self.sampling.patch_spacing_cm)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | str | int]:
        s, v = self.index[i]
        subject, view = self.subjects[s], self.subjects[s].views[v]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        light = self.lights[int(rng.integers(len(self.lights)))]
        similarity = random_similarity(self.augment, rng)
        calib = similarity @ np.asarray(view["calib"], dtype=np.float64)
        stem, size, folder = view["file"], self.image_size, subject.folder

        sized = f"{light}_{size}"  # rgb_512 exists for the SH renders of 1024 data
        rgb_name = sized if size != FINE_FULL and (folder / sized / stem).is_file() else light
        mask = _load(folder / "mask" / stem, size)
        image = self._compose(_load(folder / rgb_name / stem, size), mask, similarity, rng, size)
        normals_f = _load_normals(folder / "normal_front" / stem, size)
        normals_b = _load_normals(folder / "normal_back" / stem, size)
        item: dict[str, torch.Tensor | str | int] = {
            "image": image * 2.0 - 1.0,
            **({"photo": _filled(image, mask, similarity) * 2.0 - 1.0} if self.photo else {}),
            "normal_front": flip_normals(warp_images(normals_f, similarity), similarity),
            "normal_back": flip_normals(warp_images(normals_b, similarity), similarity),
            "calib": torch.from_numpy(calib.astype(np.float32)),
        }
        colors = self._colors(subject.name, folder)
        region = np.flatnonzero(np.all(np.abs(_transform(calib, colors["points"])) <= 1.0, axis=1))
        if len(region) == 0:
            raise InputError(f"{folder}: no colour sample inside view {stem}'s cube")
        points, targets = self._moved_samples(colors, region, self.sampling.count, rng)
        item["color_points"] = _columns(_transform(calib, points))
        item["color_targets"] = _columns(targets)
        if self.sampling.patches:
            centers, _ = self._moved_samples(colors, region, self.sampling.patches, rng)
            grid = (centers[:, None, :] + self._offsets[None]).reshape(-1, 3)
            _, nearest = colors["tree"].query(grid)
            item["patch_points"] = _columns(_transform(calib, grid))
            item["patch_targets"] = _columns(colors["albedo"][nearest])
        item["harshness"] = torch.tensor(LIGHT_HARSHNESS.get(light, 1.0), dtype=torch.float32)
        item.update(light=light, subject=subject.name, view=int(view["index"]))
        return item

    def _moved_samples(
        self, colors: dict, region: np.ndarray, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` colour samples of ``region`` moved along their normals: (points (n, 3) cm,
        albedo (n, 3))."""
        chosen = rng.choice(region, size=n, replace=len(region) < n)
        offset = rng.normal(scale=self.sampling.offset_cm, size=(n, 1))
        points = colors["points"][chosen] + colors["normals"][chosen] * offset
        return points, colors["albedo"][chosen]

    def _colors(self, name: str, folder: Path) -> dict:
        """``colors.npz`` of a subject (float64 points and normals, float32 albedo) plus a
        KD-tree of its points when patches are drawn; cached like the occupancy samples."""
        key = f"colors:{name}"
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        path = folder / "colors.npz"
        try:
            with np.load(path) as data:
                colors = {
                    "points": data["points"].astype(np.float64),
                    "normals": data["normals"].astype(np.float64),
                    "albedo": data["albedo"].astype(np.float32),
                }
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: cannot read colour samples ({exc}); re-run prepare") from exc
        colors["tree"] = cKDTree(colors["points"]) if self.sampling.patches else None
        self._cache[key] = colors
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return colors


def _filled(image: torch.Tensor, mask: torch.Tensor, similarity: np.ndarray) -> torch.Tensor:
    """(3, S, S) ``image`` in [0, 1] with the pixels beyond its person mask's edge taken from
    within (``person_image``); ``mask`` (1, S, S) before the ``similarity`` warp."""
    inside = warp_images(mask, similarity)[0].numpy() > 0.5
    filled = person_image(image.permute(1, 2, 0).numpy(), inside)
    return torch.from_numpy(np.ascontiguousarray(filled)).permute(2, 0, 1)


def _columns(rows: np.ndarray) -> torch.Tensor:
    """(N, 3) array -> (3, N) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(rows.T, dtype=np.float32))
