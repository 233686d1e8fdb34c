"""``pifuhd prepare``: scans -> normalised subjects -> renders, labelled points, colour samples.

Layout written under ``DATA/`` (documented in ``docs/data_format.md``)::

    manifest.json                       settings, seed, versions, subjects (one per run/shard)
    subjects/<name>/subject.json        written last: the subject is complete
    subjects/<name>/views.json          per view: yaw, calib (subject cm -> cube), light
    subjects/<name>/samples.npz         occupancy points (cm), inside labels, sample kind
    subjects/<name>/colors.npz          surface points, normals, albedo
    subjects/<name>/mesh.ply            the normalised mesh with vertex albedo (ground truth)
    subjects/<name>/<map>/<view>.png    rgb, rgb_<size/2>, normal_front, normal_back, mask,
                                        depth_front, depth_back, rgb_<preset>
    subjects/<name>/body/<view>.npz     synthetic subjects: the true and the fitted body in the
    subjects/<name>/body/faces.npy      view's cube (``pifuhd.data.bodies``), Anny's triangles

Every file is written atomically; a killed run resumes where it stopped (finished subjects and
finished views are skipped). A finished subject without the bodies ``config.bodies`` asks for
(data format 2, or ``--bodies true`` then ``fit``) gets only its body files added. Random
draws come from ``(seed, crc32(name)[, view])``, so results do not depend on the order, the
number of workers or the shard.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pifuhd.data.asset import (
    CUBE_HALF_CM,
    DEFAULT_ALBEDO,
    MeshAsset,
    sample_texture,
    view_matrix,
)
from pifuhd.data.bodies import (
    FIT_VERSION,
    TrueBody,
    subject_fits_current,
    true_body,
    write_view_bodies,
)
from pifuhd.data.files import downsample2, save_npz, to_uint8, write_json, write_png
from pifuhd.data.manifest import write_manifest
from pifuhd.data.scan import ScanError, ScanInfo, find_subjects, load_scan
from pifuhd.data.settings import (  # noqa: F401  (re-exported: prepare's public names)
    BODY_LEVELS,
    DATA_FORMAT_VERSION,
    LIGHT_PRESETS,
    PrepareConfig,
    SubjectResult,
)
from pifuhd.errors import InputError
from pifuhd.io.atomic import atomic_write

if TYPE_CHECKING:
    from pifuhd.data.render import SubjectRenderer

log = logging.getLogger(__name__)

UNIFORM_BOX_CM = (
    (-CUBE_HALF_CM * 2**0.5, -CUBE_HALF_CM, -CUBE_HALF_CM * 2**0.5),
    (CUBE_HALF_CM * 2**0.5, CUBE_HALF_CM, CUBE_HALF_CM * 2**0.5),
)
"""Box (cm) of the uniform samples: it holds the normalised cube of every yaw."""


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` (1-based K) -> (K, N); None -> (1, 1)."""
    if text is None:
        return 1, 1
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: write it as K/N, e.g. 3/10") from None
    if not 1 <= k <= n:
        raise InputError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def shard_subjects(
    subjects: Sequence[tuple[str, Path]], shard: tuple[int, int]
) -> list[tuple[str, Path]]:
    """Subjects of shard K of N: those at sorted positions ``i`` with ``i % N == K - 1``."""
    k, n = shard
    return [s for i, s in enumerate(sorted(subjects)) if i % n == k - 1]


def subject_rng(seed: int, name: str, *extra: int) -> np.random.Generator:
    """Generator for one subject (and view): independent of order, workers and shards."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), *extra])


def view_yaws(views: int) -> list[float]:
    """Evenly spaced yaws in degrees, starting at 0 (the front)."""
    return [360.0 * k / views for k in range(views)]


def prepare(
    scans: Path,
    out: Path,
    config: PrepareConfig,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (1, 1),
    progress: Callable[[SubjectResult], None] | None = None,
) -> list[SubjectResult]:
    """Prepare every subject of ``scans`` (this shard's share) into ``out``.

    Failures of single subjects (bad meshes) are reported in the results and the manifest,
    never raised. Returns one result per subject of the shard.
    """
    config.validate()
    subjects = shard_subjects(find_subjects(scans), shard)
    out = Path(out)
    (out / "subjects").mkdir(parents=True, exist_ok=True)
    jobs = [(name, path, out / "subjects" / name, config) for name, path in subjects]
    results: list[SubjectResult] = []
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(workers, len(jobs))) as pool:
            for result in pool.imap_unordered(_prepare_job, jobs):
                results.append(result)
                if progress:
                    progress(result)
    else:
        for job in jobs:
            result = _prepare_job(job)
            results.append(result)
            if progress:
                progress(result)
    results.sort(key=lambda r: r.name)
    write_manifest(out, config, results, shard)
    return results


def _prepare_job(job: tuple[str, Path, Path, PrepareConfig]) -> SubjectResult:
    name, path, folder, config = job
    start = time.perf_counter()
    try:
        status = prepare_subject(name, path, folder, config)
    except ScanError as exc:
        return SubjectResult(name, "failed", str(path), time.perf_counter() - start, str(exc))
    return SubjectResult(
        name, status, str(path), time.perf_counter() - start, warnings=_warnings(folder)
    )


def _warnings(folder: Path) -> list[str]:
    try:
        return list(json.loads((folder / "subject.json").read_text())["scan"]["warnings"])
    except (OSError, KeyError, ValueError):
        return []


def finished_subject(folder: Path, config: PrepareConfig) -> dict | None:
    """``folder/subject.json`` if it exists and its renders were made with these settings
    (``PrepareConfig.digest``), else None."""
    try:
        doc = json.loads((folder / "subject.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if doc.get("settings_digest") == config.digest() else None


def bodies_cover(written: str, wanted: str) -> bool:
    """True if bodies written at level ``written`` include level ``wanted`` (``BODY_LEVELS``)."""
    return BODY_LEVELS.index(written) >= BODY_LEVELS.index(wanted)


def subject_complete(folder: Path, config: PrepareConfig) -> bool:
    """True if the subject is finished with these settings, bodies included. Subjects of data
    format 2 (no "bodies" in ``subject.json``) have none."""
    doc = finished_subject(folder, config)
    return doc is not None and bodies_done(doc, config.bodies)


def bodies_done(doc: dict, level: str) -> bool:
    """True if a finished subject's ``subject.json`` (``doc``) has the bodies of ``level``, fits
    by the current fitter included."""
    return bodies_cover(doc.get("bodies", "none"), level) and subject_fits_current(doc, level)


def bodies_record(level: str) -> dict:
    """What ``subject.json`` records about a subject's bodies."""
    return {"bodies": level, **({"fit_version": FIT_VERSION} if level == "fit" else {})}


def prepare_subject(name: str, path: Path, folder: Path, config: PrepareConfig) -> str:
    """Load, sample and render one subject into ``folder``; 'done' or 'skipped' (complete).
    A finished subject missing only bodies gets them added (:func:`add_bodies`): 'done'.

    Raises:
        ScanError: the mesh cannot be used (the caller reports it and goes on).
    """
    from pifuhd.data.render import SubjectRenderer
    from pifuhd.data.sample import depth_origin

    doc = finished_subject(folder, config)
    if doc is not None:
        if bodies_done(doc, config.bodies):
            return "skipped"
        add_bodies(path, folder, config, doc)
        return "done"
    asset, info = load_scan(path, up=config.up, units=config.units, name=name)
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    if not (folder / "mesh.ply").is_file():
        write_subject_mesh(asset, folder / "mesh.ply")
    t0 = time.perf_counter()
    write_samples(asset, folder, config)
    timings["samples_s"] = time.perf_counter() - t0

    origin = depth_origin(dict(np.load(folder / "samples.npz")))

    t0 = time.perf_counter()
    renderer = SubjectRenderer(asset, prt_dirs=config.prt_dirs, seed=config.seed)
    timings["prt_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    body = subject_body(path, info, config)
    timings["bodies_s"] = time.perf_counter() - t0
    timings["render_s"] = 0.0
    views = []
    for k, yaw in enumerate(view_yaws(config.views)):
        t0 = time.perf_counter()
        views.append(render_view_files(renderer, name, k, yaw, folder, config, origin))
        t1 = time.perf_counter()
        if body is not None:
            write_view_bodies(folder, views[-1], body, config.bodies)
        timings["render_s"] += t1 - t0
        timings["bodies_s"] += time.perf_counter() - t1
    write_json(folder / "views.json", {"views": views})
    doc = {
        "name": name,
        "settings_digest": config.digest(),
        **bodies_record(config.bodies),
        "scan": asdict(info),
        "vertices": len(asset.vertices),
        "faces": len(asset.faces),
        "views": len(views),
        "timings": timings,
    }
    write_json(folder / "subject.json", doc)  # last: marks the subject complete
    return "done"


def subject_body(path: Path, info: ScanInfo, config: PrepareConfig) -> TrueBody | None:
    """The subject's true body when ``config`` asks for bodies and it is a synthetic person."""
    if config.bodies == "none":
        return None
    return true_body(path, np.asarray(info.to_subject, dtype=np.float64))


def add_bodies(path: Path, folder: Path, config: PrepareConfig, doc: dict) -> None:
    """Add the body files of ``config.bodies`` (or refit views fitted by an older fitter) to a
    finished subject without rendering it again (the renders and samples are kept byte for
    byte), then update ``subject.json``.

    ``doc``: its ``subject.json``. The scan is loaded again for its normalisation (format 2
    did not record it); finished body files are skipped, so a killed run resumes.
    """
    t0 = time.perf_counter()
    _, info = load_scan(path, up=config.up, units=config.units, name=doc.get("name"))
    body = subject_body(path, info, config)
    if body is not None:
        for view in json.loads((folder / "views.json").read_text())["views"]:
            write_view_bodies(folder, view, body, config.bodies)
    timings = {**doc.get("timings", {}), "bodies_s": time.perf_counter() - t0}
    doc = {**doc, **bodies_record(config.bodies), "scan": asdict(info), "timings": timings}
    write_json(folder / "subject.json", doc)


def write_subject_mesh(asset: MeshAsset, path: Path) -> None:
    """The normalised mesh (subject frame, cm) with per-vertex albedo, as binary PLY: the
    ground truth for evaluation (geometry and colour metrics)."""
    import trimesh

    colors = (np.clip(vertex_albedo(asset), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    mesh = trimesh.Trimesh(asset.vertices, asset.faces, vertex_colors=colors, process=False)
    with atomic_write(path) as tmp:
        tmp.write_bytes(mesh.export(file_type="ply", encoding="binary"))


def vertex_albedo(asset: MeshAsset) -> np.ndarray:
    """(V, 3) float32 sRGB albedo at the vertices (texture at the vertex UVs, vertex colours,
    or the default grey)."""
    if asset.texture is not None and asset.uv is not None:
        return sample_texture(asset.texture, asset.uv.astype(np.float64))
    if asset.vertex_colors is not None:
        return np.asarray(asset.vertex_colors, dtype=np.float32)
    return np.broadcast_to(DEFAULT_ALBEDO, (len(asset.vertices), 3)).astype(np.float32)


def write_samples(asset: MeshAsset, folder: Path, config: PrepareConfig) -> None:
    """Occupancy samples (``samples.npz``) and colour samples (``colors.npz``), if missing."""
    from pifuhd.data.sample import color_samples, occupancy_samples

    if not (folder / "samples.npz").is_file():
        rng = subject_rng(config.seed, asset.name, 0)
        samples = occupancy_samples(
            asset.vertices,
            asset.faces,
            rng,
            n_surface=config.surface_samples,
            sigmas=config.sigmas_cm,
            n_uniform=config.uniform_samples,
            box_min=np.array(UNIFORM_BOX_CM[0]),
            box_max=np.array(UNIFORM_BOX_CM[1]),
        )
        samples["sigmas_cm"] = np.asarray(config.sigmas_cm, dtype=np.float32)
        save_npz(folder / "samples.npz", samples)
    if not (folder / "colors.npz").is_file():
        rng = subject_rng(config.seed, asset.name, 1)
        save_npz(folder / "colors.npz", color_samples(asset, config.color_samples, rng))


def render_view_files(
    renderer: SubjectRenderer,
    name: str,
    index: int,
    yaw: float,
    folder: Path,
    config: PrepareConfig,
    origin_cm: np.ndarray | None = None,
) -> dict:
    """Render one view's maps into ``folder/<map>/<index>.png`` unless they all exist.

    ``origin_cm`` (3,): the subject-frame point at cube z = 0 (``view_matrix``); the depth
    maps are cube z in that frame. Returns the view's record for ``views.json``: yaw, calib,
    light coefficients.
    """
    from pifuhd.data.lighting import light_preset, random_environment
    from pifuhd.data.render import depth_to_uint16, normal_to_rgb8

    stem = f"{index:04d}"
    calib = view_matrix(yaw, origin_cm)
    light = random_environment(subject_rng(config.seed, name, 2, index))
    record = {
        "index": index,
        "yaw": yaw,
        "calib": calib.tolist(),
        "light": np.asarray(light).tolist(),
        "file": f"{stem}.png",
    }
    half = f"rgb_{config.size // 2}"  # rgb_512 at the default size 1024
    names = [
        "rgb",
        half,
        "normal_front",
        "normal_back",
        "mask",
        "depth_front",
        "depth_back",
        *(f"rgb_{p}" for p in config.presets),
    ]
    if all((folder / n / f"{stem}.png").is_file() for n in names):
        return record
    lit = renderer.render_lights(
        yaw, config.size, [light, *(light_preset(p) for p in config.presets)]
    )
    maps = lit[0]
    images = {
        "rgb": to_uint8(maps.rgb),
        half: to_uint8(downsample2(maps.rgb)),
        "normal_front": normal_to_rgb8(maps.normal_front),
        "normal_back": normal_to_rgb8(maps.normal_back),
        "mask": maps.mask.astype(np.uint8) * 255,
        "depth_front": depth_to_uint16(maps.depth_front + calib[2, 3]),
        "depth_back": depth_to_uint16(maps.depth_back + calib[2, 3]),
    }
    for preset, preset_maps in zip(config.presets, lit[1:], strict=True):
        images[f"rgb_{preset}"] = to_uint8(preset_maps.rgb)
    for map_name, array in images.items():
        write_png(folder / map_name / f"{stem}.png", array)
    return record
