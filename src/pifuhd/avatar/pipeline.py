"""Photo -> animatable avatar: reconstruct, rig with the fitted body, export (``pifuhd avatar``).

Per photo ``<stem>`` the files are:

- ``<stem>_posed.obj``: the avatar in the photo's pose, in the frame ``pifuhd reconstruct``
  writes (cube or pixel);
- ``<stem>_canonical.obj``: the same surface in the fitted body's rest pose (avatar frame:
  metres, y up, facing +z, standing on y = 0; ``pifuhd.avatar.rig``);
- ``<stem>_avatar.glb``: the rest mesh with its skin (Anny's 104 bones, four influences per
  vertex), shown in the photo's pose, with the built-in motion clips (``pifuhd.avatar.motion``);
- ``<stem>_avatar.json``: the body (shape, pose), the cube placement, clips and timings.

All are staged in a temporary folder and renamed into place together.

The canonical surface is, by default, CAR's canonical signed distance model
(``pifuhd.avatar.learned``), posed by the fitted body and corrected in posed space onto the
photo's reconstruction (the pose, ``pifuhd.avatar.pose_refine``; then the surface,
``pifuhd.avatar.posed_fit``). Or the photo's occupancy field pulled back through the fitted
body's skinning (``canonical="pullback"``, ``pifuhd.avatar.canonical``), or the reconstruction
taken back vertex by vertex (``canonical="unpose"``, ``pifuhd.avatar.rigging``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from pifuhd.avatar.build import skinned_avatar
from pifuhd.avatar.canonical import rig_canonical
from pifuhd.avatar.gltf import SkinnedAvatar, glb_bytes
from pifuhd.avatar.learned import rig_learned
from pifuhd.avatar.motion import CLIPS, CM_TO_M, anny_rig, builtin_clip
from pifuhd.avatar.pose_refine import refine_rigged_pose
from pifuhd.avatar.posed_fit import attract_rigged
from pifuhd.avatar.rigging import RiggedMesh, rig_mesh
from pifuhd.batch import run_batch
from pifuhd.body.poses import Pose
from pifuhd.body.skinned import unskin
from pifuhd.errors import InputError
from pifuhd.geometry.normal_refine import RefineSettings, refine_mesh
from pifuhd.io.atomic import publish, staging_folder
from pifuhd.io.crops import cube_to_pixel_matrix
from pifuhd.stages import notify_stage

log = logging.getLogger(__name__)
METHODS = {
    "unpose": "the reconstructed mesh unposed through the fitted body's skinning",
    "pullback": "the photo's occupancy pulled back through the fitted body's skinning and "
    "meshed in the rest pose",
    "learned": "CAR's canonical signed distance model (pixel-aligned evidence at the posed "
    "point, canonical normal and coordinate) meshed in the rest pose",
}


@dataclass
class Avatar:
    """An animatable avatar of one photo's person.

    Attributes:
        canonical: the rest-pose mesh (avatar frame, metres).
        posed: the reconstruction in the photo's frame (``frame``).
        skinned: the rigged avatar as written to GLB.
        rigged: the binding (subject frame, cm). reconstruction: the photo's reconstruction.
        timings: wall seconds per stage. method: how the canonical mesh was made
            (:func:`make_avatar`'s ``canonical``).
    """

    canonical: trimesh.Trimesh
    posed: trimesh.Trimesh
    skinned: SkinnedAvatar
    rigged: RiggedMesh
    reconstruction: Any
    timings: dict[str, float] = field(default_factory=dict)
    method: str = "unpose"

    @property
    def shape(self) -> dict[str, float]:
        """The fitted Anny shape (``SHAPE_KEYS`` values)."""
        return dict(self.reconstruction.body_fit.shape)

    def pose(self, params: Pose | np.ndarray) -> trimesh.Trimesh:
        """The avatar in another pose (a ``Pose`` or (J, 4, 4) Anny deltas), avatar frame."""
        from pifuhd.body.anny import anny_body

        transforms = anny_body(self.shape, params).transforms
        vertices = CM_TO_M * self.rigged.pose(transforms)
        return trimesh.Trimesh(vertices, self.rigged.faces, process=False)


LEARNED_STEPS = {"pose_refine": 100, "attract": 1, "refine": 0}
"""Posed-space steps after the learned canonical model, as measured best on the validation
people (``docs/avatar.md``): the pose corrected onto the photo's surface, the surface drawn
onto it, no vertex refinement (it cost 0.02 cm posed Chamfer there)."""


def default_canonical_model() -> Any:
    """The bundled canonical model (``pifuhd.weights``), loaded once per process."""
    global _CANONICAL_MODEL
    if _CANONICAL_MODEL is None:
        from pifuhd.avatar.train_canonical import load_canonical_model
        from pifuhd.weights import default_canonical_model_path

        _CANONICAL_MODEL = load_canonical_model(default_canonical_model_path())
    return _CANONICAL_MODEL


_CANONICAL_MODEL = None


def parse_motions(text: str, files: bool = False) -> tuple[str, ...]:
    """``"walk,wave"`` -> ("walk", "wave"); ``""`` or ``"none"`` -> (); unknown names raise
    (with ``files``, names ending in ``.bvh`` are motion-capture files)."""
    names = tuple(n.strip() for n in text.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in CLIPS and not (files and n.lower().endswith(".bvh"))]
    if unknown:
        raise InputError(f"unknown motion {unknown[0]!r} (built in: {', '.join(CLIPS)})")
    return names


def make_avatar(
    image: str | os.PathLike | np.ndarray,
    reconstructor: Any,
    motions: Sequence[str] = ("walk", "wave"),
    frames: int = 24,
    frame: str = "cube",
    canonical: str = "learned",
    model: Any = None,
    sdf_refine: int = 0,
    hyper: Any = None,
    **inputs: Any,
) -> Avatar:
    """Reconstruct the largest person of ``image`` and rig it (module docstring).

    Args:
        image: a photo (path or array). reconstructor: a ``pifuhd.inference.Reconstructor``.
        motions: built-in clips to add. frames: keyframes per clip loop.
        frame: "cube" or "pixel", for ``posed``. inputs: ``rect``, ``mask``, ``keypoints``.
        canonical: "learned" (CAR's canonical model ``model``, default the bundled one,
            ``pifuhd.avatar.learned``; ``posed`` is its mesh posed and corrected onto the
            photo's surface), "pullback" (the photo's occupancy pulled back into the rest
            pose and meshed there, ``pifuhd.avatar.canonical``; posed the same way) or
            "unpose" (the reconstructed mesh taken back vertex by vertex,
            ``pifuhd.avatar.rigging``; ``posed`` is the reconstruction: faster, but vertices
            between bones turned far apart fly off into large sheets).
    Raises:
        InputError: no body could be fitted to the photo (the avatar's skeleton).
    """
    reconstructor.fit_body = True
    result = reconstructor(image, frame="cube", **inputs)
    fine_size = reconstructor.model.config.fine.image_size
    return rig_reconstruction(
        result, image, motions, frames, frame, canonical, fine_size,
        model=model, sdf_refine=sdf_refine, hyper=hyper,
    )  # fmt: skip


def rig_reconstruction(
    result: Any,
    image: object = "the photo",
    motions: Sequence[str] = ("walk", "wave"),
    frames: int = 24,
    frame: str = "cube",
    canonical: str = "learned",
    fine_size: int = 1024,
    refine: int | None = None,
    model: Any = None,
    sdf_refine: int = 0,
    hyper: Any = None,
    attract: bool | None = None,
    pose_refine: int | None = None,
) -> Avatar:
    """The avatar of a reconstruction made with ``Reconstructor.fit_body`` set (cube frame);
    arguments as :func:`make_avatar` (``image`` only names the photo in errors; ``fine_size``:
    the fine level's image size, for ``frame="pixel"``; ``refine``: iterations of the posed
    refinement of a pulled-back mesh, None: the reconstruction's own ``settings.refine``)."""
    from pifuhd.body.anny import anny_body

    fit = result.body_fit
    if fit is None:
        why = "; ".join(result.warnings) or "no landmarks"
        raise InputError(
            f"{image}: no body could be fitted to the person ({why}); an avatar "
            "needs one: give a full-body photo of one person"
        )
    timings = dict(result.timings)
    notify_stage("rig")
    start = time.perf_counter()
    body = anny_body(fit.shape, fit.anny_pose_deltas)
    learned = canonical == "learned"
    if refine is None:
        refine = LEARNED_STEPS["refine"] if learned else result.settings.refine
    if pose_refine is None:
        pose_refine = LEARNED_STEPS["pose_refine"] if learned else 0
    if attract is None:
        attract = bool(LEARNED_STEPS["attract"]) if learned else False
    if canonical in ("pullback", "learned"):
        if learned:
            model = default_canonical_model() if model is None else model
            rigged = rig_learned(
                model, body, fit.vertices, result.occupancy, result.normals, result.resolution
            )
        else:
            rigged = rig_canonical(result.occupancy, body, fit.vertices, result.resolution)
        timings["rig"] = time.perf_counter() - start
        if pose_refine > 0:
            notify_stage("pose_refine")
            start = time.perf_counter()
            rigged = refine_rigged_pose(rigged, result.mesh, pose_refine)
            timings["pose_refine"] = time.perf_counter() - start
        if attract:
            notify_stage("attract")
            start = time.perf_counter()
            rigged = attract_rigged(rigged, result.mesh)
            timings["attract"] = time.perf_counter() - start
        if sdf_refine > 0:
            notify_stage("refine_sdf")
            start = time.perf_counter()
            rigged = sdf_refined(rigged, fit.vertices, result.normals, sdf_refine, hyper)
            timings["refine_sdf"] = time.perf_counter() - start
        if refine > 0:  # as the pipeline refines a reconstruction
            start = time.perf_counter()
            rigged = refine_rigged(rigged, result.normals, refine)
            timings["refine_avatar"] = time.perf_counter() - start
        start = time.perf_counter()
    elif canonical == "unpose":
        rigged = rig_mesh(result.mesh.vertices, result.mesh.faces, body, fit.vertices)
    else:
        raise ValueError(f"canonical must be one of {', '.join(METHODS)}, not {canonical!r}")
    rig = anny_rig(fit.shape)
    timings["rig"] = timings.get("rig", 0.0) + time.perf_counter() - start
    notify_stage("clips")
    start = time.perf_counter()
    colors = None
    if result.mesh.visual.kind == "vertex":
        colors = np.asarray(result.mesh.visual.vertex_colors)[:, :3] / 255.0
        if canonical != "unpose":  # each vertex takes the nearest reconstructed colour
            _, nearest = cKDTree(result.mesh.vertices).query(rigged.placement.to_cube(rigged.posed))
            colors = colors[nearest]
    clips = [builtin_clip(m, fit.shape, rig, frames) for m in motions]
    skinned = skinned_avatar(
        rig,
        rigged.rest,
        rigged.faces,
        rigged.weights,
        rigged.body.transforms,
        colors,
        clips,
        extras={"body_model": "anny", "anny_shape": dict(fit.shape), "method": METHODS[canonical]},
    )
    timings["clips"] = time.perf_counter() - start
    posed = result.mesh.copy()
    if canonical != "unpose":
        posed = trimesh.Trimesh(rigged.placement.to_cube(rigged.posed), rigged.faces, process=False)
    if frame == "pixel":
        posed.apply_transform(cube_to_pixel_matrix(result.crop, fine_size))
    rest = trimesh.Trimesh(CM_TO_M * rigged.rest, rigged.faces, process=False)
    if colors is not None:
        rgba = np.concatenate([np.rint(colors * 255), np.full((len(colors), 1), 255)], 1)
        rest.visual.vertex_colors = rgba.astype(np.uint8)
    return Avatar(rest, posed, skinned, rigged, result, timings, canonical)


def sdf_refined(
    rigged: RiggedMesh, fit_vertices: np.ndarray, normals: list, steps: int, hyper: Any
) -> RiggedMesh:
    """CAR's posed refinement network (``pifuhd.avatar.refine_sdf``) fitted for ``steps``
    from the hypernetwork's weights for this body (or from a sphere without one)."""
    import torch

    from pifuhd.avatar.hyper import body_points
    from pifuhd.avatar.refine_sdf import refine_rigged_sdf

    theta0 = None
    if hyper is not None:
        faces = rigged.body.weld[rigged.body.faces]
        with torch.no_grad():
            theta0 = hyper(torch.as_tensor(body_points(fit_vertices, faces)))
    return refine_rigged_sdf(rigged, normals, steps, theta0)


def refine_rigged(rigged: RiggedMesh, normals: list[np.ndarray], iterations: int) -> RiggedMesh:
    """CAR's posed-space refinement (Sec. 3.3) of a rigged mesh: its posed surface moved to
    follow the photo's predicted normal maps (``pifuhd.geometry.normal_refine``), each moved
    vertex taken back to the rest pose through its own blended bone transform."""
    cube = trimesh.Trimesh(rigged.placement.to_cube(rigged.posed), rigged.faces, process=False)
    moved, _ = refine_mesh(cube, normals[0], normals[1], RefineSettings(iterations=iterations))
    posed = rigged.placement.to_subject(moved.vertices)
    rest = unskin(posed, rigged.weights, rigged.body.transforms)
    return replace(rigged, rest=rest, posed=posed)


def avatar_info(avatar: Avatar) -> dict[str, Any]:
    """JSON-ready description of ``avatar``."""
    fit = avatar.reconstruction.body_fit
    return {
        "method": METHODS[avatar.method],
        "body_model": "anny",
        "body": fit.to_json(),
        "cube_per_cm": avatar.rigged.placement.scale,
        "cube_offset": [float(v) for v in avatar.rigged.placement.offset],
        "canonical_frame": "metres, y up, facing +z, standing on y = 0 (Anny rest pose)",
        "vertices": len(avatar.canonical.vertices),
        "faces": len(avatar.canonical.faces),
        "bones": len(avatar.skinned.rig.labels),
        "clips": {c.name: float(c.times[-1]) for c in avatar.skinned.clips},
        "reconstruction": avatar.reconstruction.info(),
        "timings_s": {k: round(v, 4) for k, v in avatar.timings.items()},
    }


def write_avatar_files(
    avatar: Avatar, out_dir: str | os.PathLike, stem: str, extra: dict | None = None
) -> list[Path]:
    """Write the four files of the module docstring; returns their paths, the GLB first."""
    with staging_folder(out_dir, stem) as staging:
        names = [f"{stem}_avatar.glb", f"{stem}_canonical.obj", f"{stem}_posed.obj"]
        (staging / names[0]).write_bytes(glb_bytes(avatar.skinned))
        avatar.canonical.export(staging / names[1])
        avatar.posed.export(staging / names[2])
        names.append(f"{stem}_avatar.json")
        info = {**avatar_info(avatar), **(extra or {})}
        (staging / names[-1]).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return publish(staging, names, Path(out_dir))


def avatar_files(
    reconstructor: Any,
    images: Sequence[Path],
    out_dir: str | os.PathLike,
    motions: Sequence[str] = ("walk", "wave"),
    frame: str = "cube",
    on_start: Callable[[Path], None] | None = None,
    canonical: str = "learned",
    model: Any = None,
    sdf_refine: int = 0,
    hyper: Any = None,
    **inputs: Any,
) -> list[Any]:
    """Make and write each photo's avatar; a failure on one (a ``PifuhdError``) is reported
    and the others go on (``pifuhd.batch.ItemReport`` per photo)."""

    def work(image: Path) -> list[Path]:
        avatar = make_avatar(
            image, reconstructor, motions, frame=frame, canonical=canonical, model=model,
            sdf_refine=sdf_refine, hyper=hyper, **inputs,
        )  # fmt: skip
        extra = {"image": str(image), "checkpoint": reconstructor.checkpoint_info.get("path")}
        return write_avatar_files(avatar, out_dir, Path(image).stem, extra)

    return run_batch([Path(i) for i in images], work, on_start)
