"""Per-view bodies of synthetic subjects: the true posed Anny body and the one fitted to the render.

A synthetic person's folder (``pifuhd synth``: ``mesh.obj``, ``avatar.npz``, ``person.json``)
keeps Anny's inputs: the shape (``person.json`` body.anny_shape), the pose (``avatar.npz``
``anny_pose_deltas``, Anny's "local-ref" parameters) and the placement (``anny_to_subject``:
``mesh.obj = anny_to_subject @ [100 x_anny; 1]``). ``load_scan`` normalised ``mesh.obj`` by
``ScanInfo.to_subject`` and each view's ``calib`` takes the subject frame to the view's cube, so
Anny's posed vertices ``x_anny`` (metres, z up, facing -y) land in the cube at::

    cube = calib @ to_subject @ anny_to_subject @ diag(100, 100, 100, 1) @ [x_anny; 1]

The fitted body comes from ``pifuhd.body.photo.fit_people`` on the view's ``rgb`` PNG over a
grey background (``FIT_BACKGROUND``) with the crop = the whole image: the rendered image spans
the cube's x and y exactly as a crop spans inference's cube (pixel edges at
+-``IMAGE_HALF_EXTENT``, ``docs/conventions.md``), so the fit's cube is the view's cube. Its
depth origin differs: the fitter puts the body's surface centroid at z = 0, the view the
clothed subject's volume centroid.

Files (``docs/data_format.md``): ``subjects/<name>/body/faces.npy`` (F, 3) int32, Anny's
triangles (true and fitted bodies share them), and per view ``body/NNNN.npz`` (uncompressed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pifuhd.data.files import save_npy, save_npz
from pifuhd.errors import InputError

if TYPE_CHECKING:
    from pifuhd.geometry.body_field import BodyField

BODY_FOLDER = "body"
FACES_FILE = "faces.npy"
PERSON_FILES = ("mesh.obj", "avatar.npz", "person.json")
"""A scan is a synthetic person when its mesh is ``mesh.obj`` beside these files."""

LEVEL_KEY = {"true": "true_vertices", "fit": "fit_found"}
"""The key whose presence marks a view's body file as written at that level."""

FIT_MISSING = "--bodies fit needs the body fitter"

FIT_VERSION = 2
"""Version of the body fitter behind a view's ``fit_*`` arrays (stored as ``fit_version``; files
without it are version 1). 2: session 15's fitter (upper-limb twist free to 80 degrees, each
landmark held at its lifted depth). ``pifuhd prepare --bodies fit`` refits older views of a
finished subject, nothing else, so a data folder follows the fitter the pipeline uses."""

FIT_BACKGROUND = 0.5
"""Grey the render is composited over (by its mask) before fitting. On the renders' black
background MediaPipe loses dark clothes: of 8 views of two people (512 px), black gave one
person not found and one fit collapsed to half height (33 cm mean joint error); mid-grey found
all 8, mean joint errors 3-11 cm. The fit still depends on the grey (0.8 collapsed another
view), so check ``fit_json``'s residuals (``landmark_error_cube_x100`` above ~5)."""


@dataclass(frozen=True)
class TrueBody:
    """The true posed body of a synthetic subject, in Anny's frame, and its placement.

    Attributes:
        vertices: (V, 3) float64 posed Anny mesh, metres, Anny axes (z up, facing -y).
        joints: (17, 3) float64 posed joints (``JOINT_NAMES`` order), metres, Anny axes.
        faces: (F, 3) int64 Anny's triangles, counter-clockwise seen from outside.
        shape: (6,) float64 Anny's phenotype values (``SHAPE_KEYS`` order).
        pose_deltas: (J, 4, 4) float64 Anny's "local-ref" pose parameters.
        anny_to_subject: (4, 4) float64, subject frame (cm) = ``anny_to_subject @ [x_anny; 1]``
            for x_anny in metres (the person's placement, x100 and the scan normalisation).
    """

    vertices: np.ndarray
    joints: np.ndarray
    faces: np.ndarray
    shape: np.ndarray
    pose_deltas: np.ndarray
    anny_to_subject: np.ndarray


def person_folder(scan: Path) -> Path | None:
    """The synthetic person's folder of a scan's mesh path, or None for any other scan."""
    scan = Path(scan)
    folder = scan.parent
    if scan.name != "mesh.obj" or not all((folder / f).is_file() for f in PERSON_FILES):
        return None
    with np.load(folder / "avatar.npz") as avatar:
        if not {"anny_pose_deltas", "anny_to_subject"} <= set(avatar.files):
            return None
    body = json.loads((folder / "person.json").read_text()).get("body", {})
    return folder if body.get("model") == "anny" and "anny_shape" in body else None


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points mapped by a (4, 4) affine matrix (float64)."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def anny_posed(shape: dict[str, float], deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anny's posed mesh and joints for phenotype ``shape`` and "local-ref" ``deltas`` (J, 4, 4).

    Returns:
        vertices (V, 3) and joints (17, 3) (``JOINT_NAMES`` order) float64, metres, Anny axes.
    Raises:
        AnnyMissingError: ``anny`` is not installed.
    """
    import torch

    from pifuhd.body.anny import JOINT_BONES, load_anny
    from pifuhd.body.skinned import JOINT_NAMES

    model = load_anny()
    with torch.no_grad():
        out = model(
            pose_parameters=torch.as_tensor(np.asarray(deltas, dtype=np.float64))[None],
            phenotype_kwargs={k: float(v) for k, v in shape.items()},
        )
    heads = out["bone_poses"][0, :, :3, 3].double().numpy()
    labels = list(model.bone_labels)
    joints = np.stack([heads[labels.index(JOINT_BONES[name])] for name in JOINT_NAMES])
    return out["vertices"][0].double().numpy(), joints


def anny_faces() -> np.ndarray:
    """(F, 3) int64 Anny's triangles (the fitter's ``BodyFit.faces`` are the same)."""
    from pifuhd.body.anny import load_anny

    return load_anny().faces.numpy().astype(np.int64)


def true_body(scan: Path, to_subject: np.ndarray) -> TrueBody | None:
    """The true posed body of a synthetic person's scan (None for other scans).

    Args:
        scan: the subject's mesh path (``.../person_NNNNN/mesh.obj``).
        to_subject: (4, 4) the scan's normalisation (``ScanInfo.to_subject``).
    """
    from pifuhd.body.anny import SHAPE_KEYS

    folder = person_folder(scan)
    if folder is None:
        return None
    shape = json.loads((folder / "person.json").read_text())["body"]["anny_shape"]
    with np.load(folder / "avatar.npz") as avatar:
        deltas = np.asarray(avatar["anny_pose_deltas"], dtype=np.float64)
        placement = np.asarray(avatar["anny_to_subject"], dtype=np.float64)
    vertices, joints = anny_posed(shape, deltas)
    metres = np.diag([100.0, 100.0, 100.0, 1.0])
    return TrueBody(
        vertices=vertices,
        joints=joints,
        faces=anny_faces(),
        shape=np.array([shape.get(k, 0.5) for k in SHAPE_KEYS], dtype=np.float64),
        pose_deltas=deltas,
        anny_to_subject=np.asarray(to_subject, dtype=np.float64) @ placement @ metres,
    )


def true_view_arrays(body: TrueBody, calib: np.ndarray) -> dict[str, np.ndarray]:
    """The ``true_*`` arrays of one view's body file; ``calib`` (4, 4) subject cm -> cube."""
    to_cube = np.asarray(calib, dtype=np.float64) @ body.anny_to_subject
    f32 = np.float32
    return {
        "true_vertices": apply(to_cube, body.vertices).astype(f32),
        "true_joints": apply(to_cube, body.joints).astype(f32),
        "true_shape": body.shape.astype(f32),
        "true_pose_deltas": body.pose_deltas.astype(f32),
        "true_anny_to_cube": to_cube.astype(f32),
    }


def fit_view_arrays(fits: list) -> dict[str, np.ndarray]:
    """The ``fit_*`` arrays of one view's body file from ``fit_people``'s result (largest
    person first; ``fit_found`` False and nothing else when nobody was found)."""
    from pifuhd.body.anny import ANNY_TO_SUBJECT, SHAPE_KEYS
    from pifuhd.body.skinned import JOINT_NAMES

    if not fits:
        return {"fit_found": np.array(False), "fit_version": np.array(FIT_VERSION)}
    fit = fits[0]
    to_cube = np.eye(4)
    to_cube[:3, :3] = fit.scale * ANNY_TO_SUBJECT
    to_cube[:3, 3] = fit.translation
    f32 = np.float32
    return {
        "fit_found": np.array(True),
        "fit_vertices": np.asarray(fit.vertices, dtype=f32),
        "fit_joints": np.stack([fit.joints[n] for n in JOINT_NAMES]).astype(f32),
        "fit_shape": np.array([fit.shape[k] for k in SHAPE_KEYS], dtype=f32),
        "fit_pose_deltas": np.asarray(fit.anny_pose_deltas, dtype=f32),
        "fit_root": np.asarray(fit.root, dtype=f32),
        "fit_scale": np.array(fit.scale, dtype=f32),
        "fit_translation": np.asarray(fit.translation, dtype=f32),
        "fit_anny_to_cube": to_cube.astype(f32),
        "fit_json": np.array(json.dumps(fit.to_json(), sort_keys=True)),
        "fit_version": np.array(FIT_VERSION),
    }


def fit_image(rgb: np.ndarray) -> list:
    """Anny bodies fitted to a rendered view (one person at most: a render shows one; ``[]``
    if nobody is found).

    Args:
        rgb: (S, S, 3) float32 in [0, 1], the whole view image (its cube is the view's).
    Raises:
        InputError: the fitter or mediapipe is missing (naming ``--bodies true``).
    """
    from pifuhd.io.crops import CropRect

    try:
        from pifuhd.body.detect import MediaPipeMissingError
        from pifuhd.body.photo import fit_people
    except ImportError as exc:
        raise InputError(f"{FIT_MISSING} ({exc}); pass --bodies true") from exc
    size = rgb.shape[0]
    try:
        # as ``pifuhd reconstruct`` fits (its guards): MediaPipe's mask, not completed
        return fit_people(rgb, crop=CropRect(0, 0, size, size), max_people=1, complete_mask=False)
    except MediaPipeMissingError as exc:
        raise InputError(f"{FIT_MISSING}: {exc}; or pass --bodies true") from exc


def view_body_path(folder: Path, index: int) -> Path:
    """``folder/body/NNNN.npz``: the body file of view ``index``."""
    return folder / BODY_FOLDER / f"{index:04d}.npz"


def view_body_done(path: Path, level: str) -> bool:
    """True if the body file at ``path`` holds everything of ``level`` ('true' or 'fit'), a fit
    by the current fitter (``FIT_VERSION``)."""
    try:
        with np.load(path) as arrays:
            keys = set(arrays.files)
            version = int(arrays["fit_version"]) if "fit_version" in keys else 1
    except (OSError, ValueError):
        return False
    needed = ("true",) if level == "true" else ("true", "fit")
    current = level != "fit" or version == FIT_VERSION
    return current and all(LEVEL_KEY[n] in keys for n in needed)


def subject_fits_current(doc: dict, level: str) -> bool:
    """True unless ``level`` is 'fit' and the subject's ``subject.json`` (``doc``) records
    fits by an older fitter (``fit_version``; none recorded: version 1)."""
    return level != "fit" or doc.get("fit_version", 1) == FIT_VERSION


def read_png(path: Path) -> np.ndarray:
    """(S, S, C) float32 in [0, 1] from an 8-bit PNG (C = 3 for colour, 1 for a mask)."""
    from PIL import Image

    image = np.asarray(Image.open(path), dtype=np.float32) / 255.0
    return image if image.ndim == 3 else image[..., None]


def fit_photo(folder: Path, file: str, grey: float = FIT_BACKGROUND) -> np.ndarray:
    """(S, S, 3) float32 in [0, 1]: the view's stored ``rgb`` over a ``grey`` background
    (``mask``); what the fitter sees. A resumed run fits the same 8-bit image."""
    rgb, mask = read_png(folder / "rgb" / file)[..., :3], read_png(folder / "mask" / file)
    return rgb * mask + np.float32(grey) * (1.0 - mask)


def write_view_bodies(folder: Path, view: dict, body: TrueBody, level: str) -> bool:
    """Write view ``view`` (a ``views.json`` record: index, calib, file)'s body file unless it
    is done; the fit runs on :func:`fit_photo`. Returns True if it wrote the file.

    Args:
        folder: the subject's folder; body: its true body; level: 'true' or 'fit'.
    """
    path = view_body_path(folder, int(view["index"]))
    if level == "none" or view_body_done(path, level):
        return False
    if not (folder / BODY_FOLDER / FACES_FILE).is_file():
        save_npy(folder / BODY_FOLDER / FACES_FILE, body.faces.astype(np.int32))
    arrays = true_view_arrays(body, np.asarray(view["calib"]))
    if level == "fit":
        arrays |= fit_view_arrays(fit_image(fit_photo(folder, view["file"])))
    save_npz(path, arrays, compress=False)
    return True


BODY_SOURCES = ("none", "true", "fit")
"""Which body a training item reads (``TrainConfig.bodies``): none, the true body, or the one
fitted to the view's render (the true one where the fit found nobody)."""


def recentred(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) cube vertices moved along z so the body's surface centroid is at z = 0, where the
    fitter puts a fitted body (``pifuhd.body.fit``): a true body then sits as a fit would."""
    from pifuhd.body.observations import area_weighted_centroid

    out = np.asarray(vertices, dtype=np.float64).copy()
    out[:, 2] -= area_weighted_centroid(out, np.asarray(faces))[2]
    return out


def view_body_mesh(folder: Path, index: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The body of view ``index`` of a prepared subject as a (V, 3) float64 cube mesh with
    its (F, 3) faces, its surface centroid at z = 0 (:func:`recentred`).

    Args:
        folder: the subject's folder; source: 'true' or 'fit' (:data:`BODY_SOURCES`).
    Raises:
        InputError: the view has no body file at that level (names the prepare command).
    """
    path = view_body_path(folder, index)
    if not view_body_done(path, source):
        raise InputError(
            f"{path}: no {source} body; run `pifuhd prepare SCANS --out DATA --bodies {source}` "
            "(synthetic subjects only) or train with --set bodies=none"
        )
    faces = np.load(folder / BODY_FOLDER / FACES_FILE).astype(np.int64)
    with np.load(path) as arrays:
        key = "fit_vertices" if source == "fit" and bool(arrays["fit_found"]) else "true_vertices"
        vertices = np.asarray(arrays[key], dtype=np.float64)
    return recentred(vertices, faces), faces


def view_body_field(folder: Path, index: int, source: str) -> BodyField:
    """:func:`pifuhd.geometry.body_field.body_field` of :func:`view_body_mesh`."""
    from pifuhd.geometry.body_field import body_field

    return body_field(*view_body_mesh(folder, index, source))
