"""Synthetic clothed people: procedural garments, hair and textures on the Anny body model.

``make_person(seed)`` draws a body shape, an outfit, a hairstyle, textures and a pose from
``seed`` alone and builds one textured mesh; ``write_person`` writes it as a folder;
``synth_people`` writes many, resumably. Anny (Apache-2.0) is optional: ``pip install anny``.

Frame of every output: centimetres, y up, the person facing +z (their left at +x), standing
on y = 0 (the lowest vertex, usually a shoe sole) with the pelvis (Anny's root joint) at
x = z = 0. The rest mesh is placed the same way (its own lowest vertex on y = 0).

Folder layout (``write_person``; see ``person_io`` for the file formats)::

    person_00000/
        mesh.obj      posed textured mesh: v (cm), vt, f v/vt; one material
        mesh.mtl      the material: map_Kd texture.png
        texture.png   the atlas: skin, garments and hair in tiles (RGB, 2048 x 2048)
        rest.obj      the same mesh in the body model's rest pose (same vertices order, faces, uv)
        avatar.npz    skinning weights and bone transforms taking rest.obj to mesh.obj, Anny inputs
        person.json   seed and every parameter in words: shape, pose, outfit, hair, skin, versions
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pifuhd.body.poses import Pose, sample_pose
from pifuhd.body.skinned import Body, Part, head_frame, limb_penetration, limit_influences
from pifuhd.synth.clothing import Garment, hidden_skin
from pifuhd.synth.hair import build_hair, sample_hair, scalp_shadow
from pifuhd.synth.layers import build_outfit, trunk_surface
from pifuhd.synth.outfits import Outfit, sample_outfit
from pifuhd.synth.patterns import SkinStyle, sample_skin, skin_albedo
from pifuhd.synth.person import SynthPerson
from pifuhd.synth.person_io import write_person
from pifuhd.synth.surface import Piece, compact
from pifuhd.synth.textures import atlas_grid, fill_from_nearest, rasterize_uv, tile_uv, to_uint8

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""``format`` of ``person.json``, bumped whenever the same seed may draw a different person:
2 adds long coats, wide-leg trousers, hoods, bags and straps (garment ``kind`` "hood",
"strap", "bag"; sizes in each garment's extra keys) and lays long hair over the clothes;
1: the first generator."""
EXTRAS_STREAM = 2
"""Second key of the generator that draws what format 2 added (``outfits.sample_outfit``), so
a seed's other draws are those of format 1."""
ATLAS_SIZE = 2048
"""Side of the texture atlas in texels."""

BodyFn = Callable[[dict[str, float], Pose], Body]
"""Builds a posed body from shape parameters and a pose (``anny_body`` by default)."""


AGE_ANCHORS = ((0.0, 1.0), (1 / 3, 11.0), (2 / 3, 25.0), (1.0, 90.0))
"""(Anny age parameter, years) pairs; ages interpolate linearly between them."""


def age_parameter(years: float) -> float:
    """Anny's age parameter for an age in years (see ``AGE_ANCHORS``)."""
    params, ages = zip(*AGE_ANCHORS, strict=True)
    return float(np.interp(years, ages, params))


def sample_shape(rng: np.random.Generator) -> tuple[dict[str, float], float]:
    """Body shape parameters (adults and older teenagers) and the age in years.

    ``gender``, ``age``, ``muscle``, ``weight``, ``proportions`` are Anny's parameters in
    [0, 1]; ``stature`` (cm) is drawn from adult height distributions (mean 177 cm for
    gender 0 to 163 cm for gender 1, sd 7 cm, shorter for teenagers) and stands for Anny's
    ``height`` parameter, which the body adapter fits to it.
    """
    u = rng.uniform
    years = float(u(16.0, 75.0))
    gender = float(rng.choice([u(0.0, 0.25), u(0.75, 1.0), u(0.25, 0.75)], p=[0.45, 0.45, 0.1]))
    mean = 177.0 - 14.0 * gender - 2.0 * max(0.0, 18.0 - years) - 0.08 * max(0.0, years - 55.0)
    shape = {
        "gender": gender,
        "age": age_parameter(years),
        "muscle": float(u(0.15, 0.85)),
        "weight": float(np.clip(rng.normal(0.45, 0.17), 0.05, 0.95)),
        "proportions": float(u(0.2, 0.8)),
        "stature": float(np.clip(rng.normal(mean, 7.0), 148.0, 198.0)),
    }
    return shape, years


def _skin_piece(body: Body, style: SkinStyle, hidden: np.ndarray, hair) -> Piece:
    used, faces = compact(body.faces[~hidden])
    head = head_frame(body.rest_vertices, body.parts)
    parts = body.parts[used][faces[:, 0]]

    def albedo(points: np.ndarray, face_ids: np.ndarray) -> np.ndarray:
        return skin_albedo(points, parts[face_ids], head, style, scalp_shadow(points, head, hair))

    return Piece(
        "skin",
        "skin",
        body.vertices[used],
        body.rest_vertices[used],
        faces,
        body.uv[used],
        body.weights[used],
        albedo,
        info=style.describe(),
    )


def bake_atlas(pieces: list[Piece], size: int = ATLAS_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Pack the pieces' textures into one atlas.

    Returns:
        uv: (sum N_i, 2) atlas uv of all pieces' vertices, concatenated in order;
        texture: (size, size, 3) uint8.
    """
    per_side, tile = atlas_grid(len(pieces), size)
    uvs, faces, owner, offset = [], [], [], 0
    for i, piece in enumerate(pieces):
        uvs.append(tile_uv(piece.uv, i, per_side, tile))
        faces.append(piece.faces + offset)
        owner.append(np.full(len(piece.faces), i))
        offset += len(piece.vertices)
    uv, all_faces, owner = np.concatenate(uvs), np.concatenate(faces), np.concatenate(owner)
    rest = np.concatenate([p.rest_vertices for p in pieces])
    face_id, bary = rasterize_uv(uv, all_faces, size)
    covered = face_id >= 0
    fid = face_id[covered]
    points = np.einsum("nk,nkc->nc", bary[covered], rest[all_faces[fid]])
    colour = np.zeros((len(fid), 3))
    first_face = np.cumsum([0] + [len(p.faces) for p in pieces])
    for i, piece in enumerate(pieces):
        mine = owner[fid] == i
        if mine.any():
            colour[mine] = piece.albedo(points[mine], fid[mine] - first_face[i])
    image = np.zeros((size, size, 3))
    image[covered] = colour
    return uv, to_uint8(fill_from_nearest(image, covered))


def assemble(
    seed: int, body: Body, pieces: list[Piece], params: dict, atlas_size: int = ATLAS_SIZE
) -> SynthPerson:
    """Concatenate pieces into one mesh with one atlas, standing on y = 0 (posed and rest)."""
    uv, texture = bake_atlas(pieces, atlas_size)
    faces, offset = [], 0
    for p in pieces:
        faces.append(p.faces + offset)
        offset += len(p.vertices)
    posed = np.concatenate([p.vertices for p in pieces])
    rest = np.concatenate([p.rest_vertices for p in pieces])
    weights = limit_influences(np.concatenate([p.weights for p in pieces]))
    lift_posed, lift_rest = -posed[:, 1].min(), -rest[:, 1].min()
    posed[:, 1] += lift_posed
    rest[:, 1] += lift_rest
    transforms = body.transforms.copy()
    transforms[:, 1, 3] += lift_posed - lift_rest * transforms[:, 1, 1]
    transforms[:, 0, 3] -= lift_rest * transforms[:, 0, 1]
    transforms[:, 2, 3] -= lift_rest * transforms[:, 2, 1]
    arrays = {k: np.asarray(v) for k, v in body.info.items() if isinstance(v, np.ndarray)}
    if "anny_to_subject" in arrays:
        arrays["anny_to_subject"] = arrays["anny_to_subject"].copy()
        arrays["anny_to_subject"][1, 3] += lift_posed
    for name, joints in (("joints", body.joints), ("rest_joints", body.rest_joints)):
        lift = lift_posed if name == "joints" else lift_rest
        arrays[name] = np.stack([j + np.array([0.0, lift, 0.0]) for j in joints.values()])
    arrays["joint_names"] = np.array(list(body.joints))
    return SynthPerson(
        seed,
        posed,
        rest,
        np.concatenate(faces).astype(np.int64),
        uv,
        texture,
        weights,
        transforms,
        list(body.bone_labels),
        list(body.bone_parents),
        params,
        arrays,
    )


def make_person(
    seed: int,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    body_fn: BodyFn | None = None,
    atlas_size: int = ATLAS_SIZE,
) -> SynthPerson:
    """Draw and build synthetic person number ``seed`` (deterministic in ``seed``).

    Args:
        seed: any non-negative int; the same seed gives identical arrays.
        cache_dir: Anny's cache folder (default: ``ANNY_CACHE_DIR``, else ``~/.cache/anny``).
        body_fn: body builder (shape, pose) -> Body; default Anny (``anny_body``).
        atlas_size: side of the texture atlas (texels).
    Raises:
        AnnyMissingError: when the default body is asked for and ``anny`` is not installed.
    """
    if body_fn is None:
        from pifuhd.body.anny import anny_body

        def body_fn(shape, pose):
            return anny_body(shape, pose, cache_dir)

    rng = np.random.default_rng(seed)
    shape, years = sample_shape(rng)
    rest_body = body_fn(shape, Pose("rest"))
    shape = dict(rest_body.info.get("shape", shape))  # with the fitted height parameter
    stature = float(np.ptp(rest_body.rest_vertices[:, 1]))
    extras = np.random.default_rng([seed, EXTRAS_STREAM])
    outfit = sample_outfit(rng, shape["gender"], shape["weight"], stature, extras)
    pose, body = _posed_body(rng, shape, outfit, body_fn)
    skin = sample_skin(rng, years)
    hair = sample_hair(rng, skin.hair, skin.hair_name, shape["gender"])
    head = head_frame(body.rest_vertices, body.parts)
    garment_seeds = rng.integers(1 << 30, size=len(outfit.garments))
    pieces = build_outfit(body, outfit.garments, garment_seeds)
    pieces += build_hair(body, head, hair, over=trunk_surface(body, pieces).vertices)
    hidden = hidden_skin(body, list(outfit.garments))
    pieces.insert(0, _skin_piece(body, skin, hidden, hair))
    params = describe_person(seed, shape, years, stature, pose, outfit, hair, skin)
    person = assemble(seed, body, pieces, params, atlas_size)
    params["counts"] = {
        "vertices": len(person.vertices),
        "faces": len(person.faces),
        "pieces": [p.name for p in pieces],
    }
    params["height_cm"] = round(float(np.ptp(person.vertices[:, 1])), 1)
    params["pose"]["attempts"] = body.info.get("pose_attempts", 1)
    return person


MAX_PENETRATION = 0.05
"""Largest fraction of forearm/hand points allowed deep inside the trunk (see
``body.limb_penetration``); poses beyond it are drawn again."""
POSE_ATTEMPTS = 8


def _posed_body(rng: np.random.Generator, shape: dict, outfit: Outfit, body_fn: BodyFn):
    """A random pose whose hands stay out of the body, and the body in it (after
    ``POSE_ATTEMPTS`` rejected draws: the reference A-pose)."""
    for attempt in range(POSE_ATTEMPTS):
        pose = sample_pose(rng, min_abduction=outfit.min_abduction, stride=outfit.stride)
        body = body_fn(shape, pose)
        if limb_penetration(body) <= MAX_PENETRATION:
            body.info["pose_attempts"] = attempt + 1
            return pose, body
    log.warning("no pose without self-intersection in %d draws: A-pose", POSE_ATTEMPTS)
    pose = Pose("a_pose (fallback)")
    body = body_fn(shape, pose)
    body.info["pose_attempts"] = POSE_ATTEMPTS + 1
    return pose, body


def describe_person(
    seed: int,
    shape: dict,
    years: float,
    stature: float,
    pose: Pose,
    outfit: Outfit,
    hair,
    skin: SkinStyle,
) -> dict:
    """The JSON-ready ``person.json`` content (without counts)."""
    from pifuhd.body.anny import anny_version

    g = shape["gender"]
    words = "male" if g < 0.3 else "female" if g > 0.7 else "androgynous"
    return {
        "format": FORMAT_VERSION,
        "seed": int(seed),
        "frame": "cm, y up, facing +z, left at +x, lowest vertex on y = 0, pelvis at x = z = 0",
        "body": {
            "model": "anny",
            "gender": words,
            "age_years": round(years, 1),
            "rest_height_cm": round(stature, 1),
            "anny_shape": {k: float(v) for k, v in shape.items()},
        },
        "pose": pose.to_dict(),
        **outfit.describe(),
        "hair": hair.describe(),
        "skin": skin.describe(),
        "versions": {"pifuhd": _pifuhd_version(), "anny": anny_version(), "numpy": np.__version__},
    }


def _pifuhd_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pifuhd")
    except PackageNotFoundError:
        return "unknown"


def synth_people(
    n: int,
    out: Path,
    seed: int = 0,
    start: int = 0,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write people ``start .. start + n - 1`` to ``out/person_{index:05d}/``, skipping folders
    that already exist (so an interrupted run resumes). Person ``i`` is drawn from the seed
    ``person_seed(seed, i)``.

    Returns:
        The folders of all ``n`` people, in index order.
    """
    from tqdm import tqdm

    out = Path(out)
    folders = []
    for index in tqdm(range(start, start + n), desc="synth people", disable=not progress):
        folder = out / f"person_{index:05d}"
        if not folder.exists():
            person = make_person(person_seed(seed, index), cache_dir=cache_dir)
            person.params["index"] = index
            person.params["dataset_seed"] = int(seed)
            write_person(person, folder)
        folders.append(folder)
    return folders


def person_seed(seed: int, index: int) -> int:
    """The seed of person ``index`` of a dataset drawn with ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint32)[0])


__all__ = [
    "Garment",
    "Part",
    "SynthPerson",
    "make_person",
    "person_seed",
    "synth_people",
    "write_person",
]
