"""Image -> mesh: the library entry point that the ``pifuhd reconstruct`` command calls.

>>> from pifuhd.inference import Reconstructor
>>> rec = Reconstructor("pifuhd.pt", resolution=256)          # doctest: +SKIP
>>> result = rec("photo.jpg")                                  # doctest: +SKIP
>>> result.mesh.export("photo.obj")                            # doctest: +SKIP

Stages: load the photo -> find the people (``pifuhd.io.people``: each one's square crop and
person mask) -> per person, the crop with its background filled or kept and the pixels beyond
the photo coloured as background (``pifuhd.io.composite``), resized to the coarse (512^2) and
fine (1024^2) sizes -> predict normal maps and encode both levels -> evaluate the fine
occupancy on a grid of the crop's normalised cube (coarse to fine), points outside the dilated
person mask or near the cube's faces carved away (``pifuhd.geometry.carving``) -> marching
cubes at 0.5 -> floating fragments dropped (``pifuhd.geometry.fragments``) -> with
``texture``, the colour net (``pifuhd.models.color``) queried at the mesh vertices (per-vertex
sRGB albedo). The guards' settings come from the checkpoint (``pifuhd.inference_settings``). A
body-guided model (``coarse.body_channels``) also reads the body fitted to the photo
(``pifuhd.guards.body_features``).
Frames are described in docs/conventions.md.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pifuhd.checkpoint import load_checkpoint
from pifuhd.checkpoint.color import load_color, missing_color_message
from pifuhd.checkpoint.pages import release_after_each_layer
from pifuhd.errors import CheckpointError, InputError
from pifuhd.geometry.fragments import drop_fragments
from pifuhd.geometry.marching import surface_mesh, triangulate
from pifuhd.geometry.normal_refine import RefineSettings, refine_mesh
from pifuhd.geometry.original_octree import Y_OFFSET_VOXELS
from pifuhd.geometry.torch_marching import triangulate_torch
from pifuhd.guards import body_features, body_normal_input, person_bounds, prefetch_body_model
from pifuhd.inference_color import ColorEvaluation
from pifuhd.inference_grid import GridEvaluation
from pifuhd.inference_settings import InferenceSettings, default_settings
from pifuhd.io.composite import network_photo
from pifuhd.io.crops import CropRect, crop_image, cube_to_pixel_matrix
from pifuhd.io.images import LoadedImage, load_image
from pifuhd.io.people import PersonInput, find_people
from pifuhd.models.color import ColorNet
from pifuhd.models.pifuhd import PIFuHD, PIFuHDFeatures
from pifuhd.reconstruction import (
    Frame,
    Reconstruction,
    StageCallback,
    pick_device,
    srgb_to_uint8,
    to_network_image,
)
from pifuhd.runtime import (
    Precision,
    default_chunk,
    encode,
    resolve_precision,
    timed_stage,
)
from pifuhd.surface_colors import TEXTURE_MODES, surface_colors

log = logging.getLogger(__name__)
ImageLike = str | os.PathLike | np.ndarray | Image.Image


class Reconstructor(GridEvaluation, ColorEvaluation):
    """A loaded model plus reconstruction settings; call it on images.

    Args:
        checkpoint: a native checkpoint folder, an official ``pifuhd.pt``, or a ``PIFuHD``.
        device: 'auto', 'cpu', 'cuda' or 'cuda:N'.
        resolution: samples per axis of the occupancy grid over the cube [-1, 1)^3.
        coarse_to_fine: evaluate the grid hierarchically (exact where the surface passes)
            instead of at every point.
        dilation: cells added around the surface's cells at each refinement level (0: the
            cells the surface is seen to cross, like the original release; 1: also their
            neighbours, which finds more small parts near a surface for more points); see
            ``pifuhd.geometry.grid.evaluate_coarse_to_fine`` and BENCHMARKS.md.
        original_octree: evaluate the original release's octree instead (its points, its
            corner-range rule, its lattice one voxel higher in y;
            ``pifuhd.geometry.original_octree``), to reproduce its meshes.
        chunk: points per network call (default: 4096 on a CPU, 262144 on a GPU).
        texture: also colour the mesh's vertices (``pifuhd.surface_colors``), by
            ``texture_mode``: "blend" (the photo where the camera sees the surface, the colour
            net elsewhere), "photo" or "net". The net is the checkpoint's (its ``color/``
            folder; a CheckpointError naming ``pifuhd train color`` if it has none).
        color: a colour net to use instead (implies texture).
        texture_mode: see ``texture``. delight: divide the photo's colours by the shading of
            a light fitted to them.
        precision: 'fp32', 'bf16' (encoders under bf16 autocast, occupancy MLPs' products in
            bf16; the error is bounded in BENCHMARKS.md) or 'auto' (bf16 where the hardware
            has it natively); see ``pifuhd.runtime``.
        fast: evaluate occupancy with ``pifuhd.models.fast_query`` (the same function with
            less work); False runs ``PIFuHD.query`` on every point, in float32.
        on_device: keep the grid on the device and run marching cubes there
            (``pifuhd.geometry.torch_grid`` / ``torch_octree`` / ``torch_marching``: the same
            occupancy volume, a closed surface through the same vertices); None: on a GPU only
            (on a CPU, NumPy's grid and scikit-image's marching cubes are faster).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | PIFuHD,
        device: str = "auto",
        resolution: int = 512,
        coarse_to_fine: bool = True,
        dilation: int = 0,
        chunk: int | None = None,
        texture: bool = False,
        original_octree: bool = False,
        color: ColorNet | None = None,
        precision: Precision = "auto",
        fast: bool = True,
        on_device: bool | None = None,
        settings: InferenceSettings | None = None,
        texture_mode: str = "blend",
        delight: bool = False,
    ) -> None:
        if texture_mode not in TEXTURE_MODES:
            raise InputError(f"--texture {texture_mode}: choose one of {', '.join(TEXTURE_MODES)}")
        self.texture = texture or color is not None
        self.texture_mode = texture_mode
        self.delight = delight
        needs_net = self.texture and texture_mode != "photo"
        self.device = pick_device(device)
        self.on_device = self.device.type != "cpu" if on_device is None else on_device
        if isinstance(checkpoint, PIFuHD):
            self.model, self.checkpoint_info = checkpoint.eval(), {"source": "in-memory"}
            if needs_net and color is None:
                raise CheckpointError(missing_color_message("the in-memory model"))
        else:
            self.model, self.checkpoint_info = load_checkpoint(checkpoint, "cpu")
            self.checkpoint_info.setdefault("path", str(checkpoint))
            if needs_net and color is None:
                color, _ = load_color(checkpoint, "cpu")
            self.model.requires_grad_(False)  # no autocast cache of bf16 weight copies
            once_per_photo = (
                self.model.netG.netF,
                self.model.netG.netB,
                self.model.netG.image_filter,  # 55 MB in the release: off before the fine one
                self.model.image_filter,
            )
            for net in once_per_photo:
                if net is not None:  # weights read once per photo: do not keep them resident
                    release_after_each_layer(net)
        self.settings = settings or default_settings(checkpoint)
        self.body_guided = bool(self.model.config.coarse.body_channels)
        self.body_normals = self.model.netG.body_normals
        """The normal nets read the fitted body's normal maps (``pifuhd.geometry.body_normals``)."""
        self.fit_body = False
        """Fit the body to every photo even when the model and guards do not need it (the
        avatar rigs the mesh with it): ``Reconstruction.body_fit``."""
        if (
            (self.settings.carve and self.settings.body_depth)
            or self.body_guided
            or self.body_normals
        ):
            prefetch_body_model()
        self.model = self.model.to(self.device).eval()
        self.color = None if color is None else color.to(self.device).eval()
        if self.color is not None:
            expected = self.model.config.coarse.encoder.out_channels
            if self.color.config.geometry_channels != expected:
                raise CheckpointError(
                    f"the colour net takes {self.color.config.geometry_channels} geometry "
                    f"channels but the geometry gives {expected}: they belong to different models"
                )
        if resolution < 2:
            raise InputError(f"--resolution {resolution}: must be at least 2")
        self.resolution = resolution
        self.coarse_to_fine = coarse_to_fine
        self.dilation = dilation
        self.original_octree = original_octree
        self.chunk = chunk or default_chunk(self.device)
        self.precision = resolve_precision(precision, self.device)
        self.fast = fast

    def __call__(
        self,
        image: ImageLike,
        rect: str | None = None,
        keypoints: str | os.PathLike | None = None,
        mask: str | os.PathLike | None = None,
        frame: Frame = "cube",
        progress: StageCallback | None = None,
        keypoints_mode: str = "fullbody",
        body: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Reconstruction:
        """Reconstruct the largest person of one photo (path, array or PIL image), with a
        warning naming the count when there are several; ``pifuhd.io.people.find_people`` says
        how rect / keypoints / mask / side files / alpha / MediaPipe give crop and mask.
        ``body``: a (V, 3) cube mesh and its faces to use instead of fitting one (an oracle)."""
        args = (image, rect, keypoints, mask, frame, progress, keypoints_mode)
        return self.people(*args, body=body)[0]

    def people(
        self,
        image: ImageLike,
        rect: str | None = None,
        keypoints: str | os.PathLike | None = None,
        mask: str | os.PathLike | None = None,
        frame: Frame = "cube",
        progress: StageCallback | None = None,
        keypoints_mode: str = "fullbody",
        all_people: bool = False,
        body: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Reconstruction]:
        """One reconstruction per person found (``all_people``), else of the largest only."""
        timings: dict[str, float] = {}
        with timed_stage(timings, "load"):
            loaded = load_image(image)
            path = Path(image) if isinstance(image, str | os.PathLike) else None
            found = find_people(
                path, loaded, rect, keypoints, mask, keypoints_mode, detect=self.reads_person
            )
        notes, count = [], len(found)
        if count > 1 and not all_people:
            notes.append(f"{count} people found; reconstructed the largest (--all-people: each)")
            log.warning("%s: %s", loaded.source, notes[-1])
            found = found[:1]
        results = []
        for person in found:
            result = self.reconstruct_person(loaded, person, frame, progress, body)
            result.timings["load"] = timings["load"]
            result.people_found = count
            result.warnings.extend(notes)
            results.append(result)
        return results

    def reconstruct_person(
        self,
        loaded: LoadedImage,
        person: PersonInput,
        frame: Frame = "cube",
        progress: StageCallback | None = None,
        body: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Reconstruction:
        """Reconstruct one person of a loaded photo (crop and mask: ``person``; ``body``: the
        cube mesh to use instead of a fit)."""
        timings: dict[str, float] = {}
        crop, settings = person.crop, self.settings
        with timed_stage(timings, "carve"):
            need_body = self.body_guided or self.body_normals or self.fit_body
            guard = person_bounds(loaded, person, settings, need_body=need_body, body=body)
            body = body_features(guard) if self.body_guided else None
        with timed_stage(timings, "encode"):
            coarse, fine = self.network_images(loaded, crop, person.mask)
            maps = body_normal_input(guard, coarse.shape[-1]) if self.body_normals else None
            maps = None if maps is None else maps.to(self.device)
            features = encode(self.model, coarse, fine, self.encode_precision, maps)
            features.body = body
            color_features = None if self.color is None else self.color_features(coarse)
        with timed_stage(timings, "grid"):
            if self.on_device:
                padded, evaluated = self.occupancy_padded(features, progress, guard.bounds)
            else:  # NumPy grid and scikit-image marching cubes
                volume, evaluated = self.occupancy_volume(features, progress, guard.bounds)
        with timed_stage(timings, "mesh"):
            # the original octree's y samples sit one voxel higher than the grid's
            offset = (0.0, float(Y_OFFSET_VOXELS * self.original_octree), 0.0)
            if self.on_device:
                surface = triangulate_torch(padded, level=0.5, index_offset=offset)
                del padded
            else:
                surface = triangulate(volume, level=0.5, index_offset=offset)
                del volume  # before the mesh's arrays are made (R = 512: half a gigabyte)
            mesh = surface_mesh(surface, (self.resolution,) * 3)
            del surface
            if len(mesh.faces) == 0:
                raise InputError(
                    f"{loaded.source}: the model found no surface in the crop {crop.as_tuple()}; "
                    "check the crop (--rect) and the checkpoint"
                )
            mesh, dropped = drop_fragments(mesh, settings.fragment_share, settings.fragment_gap)
        if settings.refine > 0:
            with timed_stage(timings, "refine"):
                maps = [n[0].permute(1, 2, 0).float().cpu().numpy() for n in features.normals]
                mesh, _ = refine_mesh(mesh, *maps, RefineSettings(iterations=settings.refine))
        evidence = None
        if self.texture:
            with timed_stage(timings, "color"):
                mask = self.fine_mask(person.mask, crop)
                evidence = self.photo_evidence(features, color_features, fine, mask)
                colors = surface_colors(mesh, evidence, self.texture_mode, self.delight)
                alpha = np.full((len(colors), 1), 255, dtype=np.uint8)
                mesh.visual.vertex_colors = np.concatenate([srgb_to_uint8(colors), alpha], 1)
        with timed_stage(timings, "mesh"):
            if frame == "pixel":
                mesh.apply_transform(cube_to_pixel_matrix(crop, self.model.config.fine.image_size))
        normals = [n[0].permute(1, 2, 0).float().cpu().numpy() for n in features.normals]
        return Reconstruction(
            mesh=mesh,
            normals=normals,
            crop=crop,
            crop_method=person.method,
            frame=frame,
            resolution=self.resolution,
            points_evaluated=evaluated,
            timings=timings,
            mask_method=person.mask_method,
            fragments_dropped=dropped,
            settings=settings,
            warnings=list(guard.notes),
            body=None if guard.body_vertices is None else (guard.body_vertices, guard.body_faces),
            body_fit=guard.fit,
            occupancy=self.point_query(features, guard.bounds) if self.fit_body else None,
            color_evidence=evidence,
        )

    def network_images(
        self, image: LoadedImage, crop: CropRect, mask: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The crop resized to both levels' sizes: (1, 3, S, S) and (1, 3, 2S, 2S) in [-1, 1];
        the background (outside ``mask``, (H, W) bool) and the pixels beyond the photo as
        ``settings`` say (``pifuhd.io.composite.network_photo``)."""
        settings, config = self.settings, self.model.config
        rgb, beyond = network_photo(image.rgb, mask, settings.background, settings.fill)
        images = [
            crop_image(rgb, crop, size, settings.resize, pad=beyond)
            for size in (config.coarse.image_size, config.fine.image_size)
        ]
        return tuple(to_network_image(x, self.device) for x in images)  # type: ignore[return-value]

    @property
    def reads_person(self) -> bool:
        """Whether the pipeline reads the person's mask or landmarks (background fill,
        carving, the body fit): without, a given crop needs no person detection."""
        s = self.settings
        return s.background != "keep" or s.carve or self.body_guided or self.body_normals

    @property
    def encode_precision(self) -> str:
        """The encoders' precision: ``precision`` on the fast path, fp32 on the plain one."""
        return self.precision if self.fast else "fp32"

    def encode(
        self, image: LoadedImage, crop: CropRect, mask: np.ndarray | None = None
    ) -> PIFuHDFeatures:
        """Crop, resize to both levels' sizes (``network_images``) and run the encoders."""
        return encode(self.model, *self.network_images(image, crop, mask), self.encode_precision)


def reconstruct(
    image: ImageLike,
    checkpoint: str | os.PathLike | PIFuHD,
    resolution: int = 512,
    device: str = "auto",
    **kwargs: Any,
) -> Reconstruction:
    """One call from a photo to a mesh: ``reconstruct("photo.jpg", "pifuhd.pt").mesh``.

    Extra keyword arguments (rect, keypoints, mask, frame) go to ``Reconstructor.__call__``.
    """
    return Reconstructor(checkpoint, device=device, resolution=resolution)(image, **kwargs)
