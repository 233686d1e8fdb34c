"""The data folder's manifests: the data format version, writing them, checking them.

``pifuhd prepare`` writes ``manifest.json`` (or ``manifest-shard-K-of-N.json``, one per shard):
settings, seed, library versions and every subject's status. Readers refuse data of an older
format (``check_data_format``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pifuhd.data.files import write_json
from pifuhd.data.settings import (
    DATA_FORMAT,
    DATA_FORMAT_VERSION,
    PrepareConfig,
    SubjectResult,
)
from pifuhd.errors import InputError


def manifest_name(shard: tuple[int, int]) -> str:
    """``manifest.json``, or ``manifest-shard-K-of-N.json`` for one shard of a job array."""
    k, n = shard
    return "manifest.json" if n == 1 else f"manifest-shard-{k}-of-{n}.json"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the data."""
    import importlib.metadata as md

    versions = {}
    for dist in ("pifuhd", "numpy", "trimesh", "embreex", "libigl", "Pillow", "anny"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return versions


def write_manifest(
    out: Path, config: PrepareConfig, results: Sequence[SubjectResult], shard: tuple[int, int]
) -> Path:
    """Write the run's manifest: settings, seed, versions, each subject's status."""
    doc = {
        "format": DATA_FORMAT,
        "format_version": DATA_FORMAT_VERSION,
        "settings": asdict(config),
        "settings_digest": config.digest(),
        "seed": config.seed,
        "shard": list(shard),
        "versions": library_versions(),
        "subjects": [asdict(r) for r in results],
        "counts": {
            status: sum(r.status == status for r in results)
            for status in ("done", "skipped", "failed")
        },
    }
    path = out / manifest_name(shard)
    write_json(path, doc)
    return path


def check_data_format(root: Path) -> None:
    """Refuse data whose manifests (``manifest*.json``) carry an older ``format_version``.

    Raises:
        InputError: naming the manifest and the fix: for format 2, the ``pifuhd prepare``
            command that adds the bodies in place (:func:`prepare_command`); for format 1, a
            new ``pifuhd prepare`` into another folder (its depth maps are of the old frame).
    """
    for path in sorted(root.glob("manifest*.json")):
        try:
            doc = json.loads(path.read_text())
            version = int(doc.get("format_version", 0))
        except (OSError, ValueError, AttributeError) as exc:
            message = f"{path}: unreadable manifest ({exc}); re-run `pifuhd prepare`"
            raise InputError(message) from exc
        if version == 2:
            raise InputError(
                f"{path}: data format 2, this pifuhd reads {DATA_FORMAT_VERSION} (per-view bodies "
                f"of synthetic subjects); add them in place, without rendering again: "
                f"`{prepare_command(root, doc)}` (add --bodies true to skip the fits, 2-3 s a "
                "view)"
            )
        if version < DATA_FORMAT_VERSION:
            raise InputError(
                f"{path}: data format {version}, this pifuhd reads {DATA_FORMAT_VERSION} (views "
                f"centred in depth on the subject); re-run `pifuhd prepare SCANS --out NEW_FOLDER`"
            )


_CLI_SETTINGS = (
    "views",
    "size",
    "presets",
    "surface_samples",
    "uniform_samples",
    "color_samples",
    "prt_dirs",
    "seed",
    "up",
    "units",
)
"""``PrepareConfig`` fields that ``pifuhd prepare`` takes as ``--field-name`` options."""


def prepare_command(root: Path, manifest: dict) -> str:
    """The ``pifuhd prepare`` command that reproduces a manifest's settings and shard into
    ``root``: the scans folder (from the subjects' sources, else ``SCANS``) and every setting
    that differs from the default."""
    settings = manifest.get("settings", {})
    default = asdict(PrepareConfig())
    words = ["pifuhd", "prepare", scans_folder(manifest.get("subjects", [])), "--out", str(root)]
    for key in _CLI_SETTINGS:
        value = settings.get(key, default[key])
        if key == "presets":
            value = tuple(value)
        if value != default[key]:
            text = ",".join(value) if key == "presets" else str(value)
            words += [f"--{key.replace('_', '-')}", text]
    k, n = manifest.get("shard", (1, 1))
    if n > 1:
        words += ["--shard", f"{k}/{n}"]
    return " ".join(words)


def scans_folder(subjects: Sequence[dict]) -> str:
    """The folder ``pifuhd prepare`` found these subjects in (``find_subjects``: a mesh
    ``SCANS/<name>.ext`` or ``SCANS/<name>/mesh``), or ``SCANS`` when they disagree."""
    roots = set()
    for subject in subjects:
        source = Path(subject.get("source", ""))
        if source.parent.name == subject.get("name"):
            roots.add(str(source.parent.parent))
        elif source.stem == subject.get("name"):
            roots.add(str(source.parent))
        else:
            return "SCANS"
    return roots.pop() if len(roots) == 1 else "SCANS"
