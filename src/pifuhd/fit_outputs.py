"""Fit Anny bodies to photos and write them in ``pifuhd reconstruct``'s frame.

Per photo ``<stem>`` (per person ``<stem>_person<K>`` with ``all_people``, K = 0 the largest):
``<stem>_body.obj`` the fitted body mesh, ``<stem>_body.json`` (shape, pose, 3D joints in the
output frame, residuals per stage, seconds, warnings) and ``<stem>_body_overlay.png`` (the body
drawn over the photo, its joints as dots).

Frames (``docs/conventions.md``): "cube" is the crop's normalised cube, "pixel" the input
image's pixels through ``cube_to_pixel_matrix(crop, 1024)``, exactly as ``reconstruct`` writes
its mesh. The crop follows ``reconstruct``'s precedence (``given_crop``: rect, keypoints,
mask, side files, alpha); when none applies, each person gets the crop of their own MediaPipe
mask, the rule of ``reconstruct``'s MediaPipe path (crop method "mediapipe-person"). All of a
photo's files are written into a temporary folder beside the outputs and renamed into place
only when all exist, so a failing photo leaves nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trimesh
from PIL import Image, ImageDraw

from pifuhd.batch import ItemReport, run_batch
from pifuhd.body.anny import AnnyMissingError
from pifuhd.body.detect import MediaPipeMissingError, detect_people
from pifuhd.body.fit import FitSettings
from pifuhd.body.observations import FINE_SIZE, BodyFit
from pifuhd.body.photo import fit_person, share_in_crop
from pifuhd.errors import InputError
from pifuhd.io.atomic import publish, staging_folder
from pifuhd.io.crops import CropRect, cube_to_pixel_matrix, given_crop
from pifuhd.io.images import LoadedImage, load_image, write_png
from pifuhd.io.mesh import save_mesh

log = logging.getLogger(__name__)

Frame = Literal["cube", "pixel"]


BODY_RGB = (90, 200, 255)
"""Colour of the body in the overlay (lit by a light at the viewer)."""

OVERLAY_OPACITY = 0.55
"""Opacity of the body drawn over the photo."""

JOINT_RGB = (255, 40, 40)
"""Colour of the joint dots."""


FitReport = ItemReport
"""Outcome of one photo of a batch (``pifuhd.batch.ItemReport``, with the fits' warnings)."""


def frame_matrix(crop: CropRect, frame: Frame) -> np.ndarray:
    """4x4 map from the crop's cube to ``frame``: identity for "cube", else
    ``cube_to_pixel_matrix(crop, 1024)`` (as ``reconstruct``)."""
    if frame == "cube":
        return np.eye(4)
    if frame == "pixel":
        return cube_to_pixel_matrix(crop, FINE_SIZE)
    raise ValueError(f"frame must be 'cube' or 'pixel', got {frame!r}")


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 3) points through a 4x4 affine matrix -> (N, 3) float64."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def mesh_in_frame(
    vertices: np.ndarray, faces: np.ndarray, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) faces mapped by a 4x4 affine ``matrix``; the faces' order
    is reversed when the map mirrors (negative determinant), so they stay outward."""
    mapped = transform_points(vertices, matrix)
    if np.linalg.det(matrix[:3, :3]) < 0:
        faces = faces[:, ::-1]
    return mapped, np.ascontiguousarray(faces)


def body_json(
    fit: BodyFit, matrix: np.ndarray, frame: Frame, extra: dict[str, Any]
) -> dict[str, Any]:
    """``fit.to_json()`` plus the joints in the output frame (``joints``), the frame and
    ``extra`` (image, crop method, person index...)."""
    names = list(fit.joints)
    mapped = transform_points(np.stack([fit.joints[n] for n in names]), matrix)
    doc = fit.to_json()
    doc["frame"] = frame
    doc["joints"] = {n: [round(float(v), 6) for v in p] for n, p in zip(names, mapped, strict=True)}
    doc["vertices"], doc["faces"] = len(fit.vertices), len(fit.faces)
    doc.update(extra)
    return doc


def overlay_image(
    rgb: np.ndarray, vertices_px: np.ndarray, faces: np.ndarray, joints_px: np.ndarray
) -> np.ndarray:
    """The photo with the body drawn over it.

    Args:
        rgb: (H, W, 3) float32 photo in [0, 1].
        vertices_px: (V, 3) body vertices in the pixel frame (x right, y down, z away from the
            viewer; ``cube_to_pixel_matrix``).
        faces: (F, 3) int, outward (right-handed frame).
        joints_px: (J, 2) joint positions in pixels, drawn as dots.

    Returns:
        (H, W, 3) uint8: triangles facing the viewer filled far to near (painter's order, no
        z-buffer), shaded by the cosine to the view direction, blended at `OVERLAY_OPACITY`.
    """
    height, width = rgb.shape[:2]
    tri = vertices_px[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1)
    facing = -normal[:, 2] / np.maximum(length, 1e-12)  # toward the viewer is -z in pixels
    keep = np.nonzero(facing > 0)[0]
    keep = keep[np.argsort(-tri[keep, :, 2].mean(axis=1))]  # far (large z) first
    colour = Image.new("RGB", (width, height))
    cover = Image.new("L", (width, height))
    paint, stencil = ImageDraw.Draw(colour), ImageDraw.Draw(cover)
    for index in keep:
        corners = [(float(x), float(y)) for x, y in tri[index, :, :2]]
        shade = 0.35 + 0.65 * float(facing[index])
        paint.polygon(corners, fill=tuple(int(c * shade) for c in BODY_RGB))
        stencil.polygon(corners, fill=255)
    alpha = np.asarray(cover, np.float32)[..., None] / 255.0 * OVERLAY_OPACITY
    photo = np.clip(rgb, 0.0, 1.0) * 255.0
    blended = photo * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha
    out = Image.fromarray(np.rint(blended).astype(np.uint8))
    dots = ImageDraw.Draw(out)
    radius = max(2.0, max(height, width) / 250.0)
    for x, y in joints_px:
        dots.ellipse((x - radius, y - radius, x + radius, y + radius), fill=JOINT_RGB)
    return np.asarray(out)


def write_body_files(
    staging: Path, name: str, fit: BodyFit, image: LoadedImage, frame: Frame, extra: dict
) -> list[str]:
    """Write ``<name>.obj``, ``<name>.json`` and ``<name>_overlay.png`` of one fit into
    ``staging``; returns the file names."""
    if fit.crop is None:
        raise ValueError("a BodyFit without its crop cannot be placed in a frame")
    matrix = frame_matrix(fit.crop, frame)
    vertices, faces = mesh_in_frame(fit.vertices, fit.faces, matrix)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    save_mesh(mesh, staging / f"{name}.obj", "obj")
    doc = body_json(fit, matrix, frame, extra)
    (staging / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    pixel = frame_matrix(fit.crop, "pixel")
    pixel_vertices, pixel_faces = mesh_in_frame(fit.vertices, fit.faces, pixel)
    joints_px = transform_points(np.stack(list(fit.joints.values())), pixel)[:, :2]
    overlay = overlay_image(image.rgb, pixel_vertices, pixel_faces, joints_px)
    write_png(staging / f"{name}_overlay.png", overlay)
    return [f"{name}.obj", f"{name}.json", f"{name}_overlay.png"]


def fit_photo(
    image: Path,
    *,
    rect: str | None = None,
    keypoints: str | os.PathLike[str] | None = None,
    mask: str | os.PathLike[str] | None = None,
    all_people: bool = False,
    max_people: int = 4,
    settings: FitSettings | None = None,
) -> tuple[LoadedImage, list[BodyFit], str, int]:
    """Detect and fit the people of one photo.

    Returns:
        The loaded photo, the fits (largest person first; one unless ``all_people``), the crop
        method (a ``resolve_crop`` label, or "mediapipe-person": each person's own mask) and
        the number of people found.

    Raises:
        InputError: nobody is found (or a crop source is unusable).
    """
    loaded = load_image(image)
    given = given_crop(image, loaded, rect=rect, keypoints=keypoints, mask=mask)
    crop, method = given if given is not None else (None, "mediapipe-person")
    start = time.perf_counter()
    people = detect_people(loaded.rgb, max_people=max_people)
    detect_s = time.perf_counter() - start
    if not people:
        raise InputError(f"{image}: no person found; use a photo with a person in view")
    if crop is not None:  # the person the crop was made for first
        people = sorted(people, key=lambda p: -share_in_crop(p, crop))
    chosen = people if all_people else people[:1]
    try:
        alone = len(people) == 1  # a plain background's mask is this person's
        fits = [
            fit_person(person, loaded.rgb, crop, settings, complete_mask=alone) for person in chosen
        ]
    except InputError as exc:  # e.g. an empty MediaPipe mask: name the photo
        raise InputError(f"{image}: {exc}") from exc
    for fit in fits:
        fit.seconds["detect"] = detect_s
    if len(people) > 1 and not all_people:
        note = f"{len(people)} people found; fitted the largest (--all-people fits each)"
        fits[0].warnings.append(note)
    return loaded, fits, method, len(people)


def write_photo_fits(
    image: Path,
    loaded: LoadedImage,
    fits: list[BodyFit],
    out_dir: Path,
    frame: Frame,
    extra: dict[str, Any],
    all_people: bool,
) -> list[Path]:
    """Write every fit of one photo atomically (staging folder, then renames); returns the
    final paths, OBJ first for each person."""
    with staging_folder(out_dir, f"{image.stem}-body") as staging:
        names: list[str] = []
        for index, fit in enumerate(fits):
            name = f"{image.stem}_person{index}_body" if all_people else f"{image.stem}_body"
            names += write_body_files(staging, name, fit, loaded, frame, {**extra, "person": index})
        return publish(staging, names, out_dir)


def fit_body_files(
    inputs: Sequence[Path],
    out: str | os.PathLike[str],
    *,
    rect: str | None = None,
    mask: str | os.PathLike[str] | None = None,
    keypoints: str | os.PathLike[str] | None = None,
    frame: Frame = "cube",
    all_people: bool = False,
    max_people: int = 4,
    settings: FitSettings | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> list[FitReport]:
    """Fit and write each photo (module docstring); a failure on one (a ``PifuhdError`` such
    as nobody found) is reported and the others go on. MediaPipe or Anny missing, and bugs,
    propagate.

    Args:
        inputs: photo paths.
        out: output folder (created).
        rect / mask / keypoints: the crop, as ``pifuhd reconstruct``'s options.
        frame: "cube" or "pixel".
        all_people: fit everybody found (``<stem>_person<K>_body.*``), not just the largest.
        max_people: most people detected per photo.
        settings: ``pifuhd.body.fit.FitSettings`` (None: its defaults).
        on_start: called with each photo before it is fitted.
    """

    def work(image: Path) -> tuple[list[Path], list[str]]:
        loaded, fits, method, count = fit_photo(
            image,
            rect=rect,
            keypoints=keypoints,
            mask=mask,
            all_people=all_people,
            max_people=max_people,
            settings=settings,
        )
        warnings = [w for fit in fits for w in fit.warnings]
        for warning in dict.fromkeys(warnings):
            log.warning("%s: %s", image, warning)
        extra = {
            "image": str(image),
            "crop_method": method,
            "people_found": count,
            "image_size": [loaded.width, loaded.height],
        }
        outputs = write_photo_fits(image, loaded, fits, Path(out), frame, extra, all_people)
        return outputs, warnings

    # MediaPipe or Anny missing is the same for every photo: stop
    return run_batch(
        [Path(i) for i in inputs], work, on_start, stop=(MediaPipeMissingError, AnnyMissingError)
    )
