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
        InputError: naming the manifest and the fix (re-run ``pifuhd prepare``).
    """
    for path in sorted(root.glob("manifest*.json")):
        try:
            version = int(json.loads(path.read_text()).get("format_version", 0))
        except (OSError, ValueError, AttributeError) as exc:
            message = f"{path}: unreadable manifest ({exc}); re-run `pifuhd prepare`"
            raise InputError(message) from exc
        if version < DATA_FORMAT_VERSION:
            raise InputError(
                f"{path}: data format {version}, this pifuhd reads {DATA_FORMAT_VERSION} (views "
                f"centred in depth on the subject); re-run `pifuhd prepare SCANS --out {root}`"
            )
