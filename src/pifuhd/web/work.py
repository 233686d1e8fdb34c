"""What a web job does: the photo -> a mesh (or an avatar) and every file the page shows.

Per job, in its folder's ``out/`` (``<stem>`` from the uploaded file's name):

- mesh mode: ``<stem>.glb`` (what the viewer shows), ``<stem>.obj``, ``<stem>.ply``,
  ``<stem>_normal_front.png``, ``<stem>_normal_back.png``, ``<stem>.json``;
- avatar mode: the four files of ``pifuhd avatar`` (``<stem>_avatar.glb`` is what the viewer
  shows, with its clips), and the reconstruction's files above;
- both: ``<stem>_body_overlay.png`` (the fitted body over the photo), ``<stem>_body.obj`` and
  ``<stem>_body.json`` when a body was fitted.

All meshes are in the crop's normalised cube (``docs/conventions.md``), the avatar in its own
frame (metres, y up, facing +z): both y up with the camera on +z, as glTF viewers expect.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pifuhd.errors import PifuhdError
from pifuhd.stages import listen_stages
from pifuhd.web.jobs import Job, JobOptions

log = logging.getLogger(__name__)

CLIPS = ("walk", "wave")
"""Animation clips every web avatar gets (``pifuhd.avatar.motion``)."""


class PhotoWork:
    """Runs jobs (``pifuhd.web.jobs.Runner``) with the server's models.

    Args:
        models: name -> checkpoint (path or folder), in the order the page lists them.
        device: torch device name ("auto": a GPU when there is one).
    """

    def __init__(self, models: dict[str, str | os.PathLike], device: str = "auto") -> None:
        self.models = dict(models)
        self.device = device
        self._reconstructors: dict[tuple[str, int, bool], Any] = {}

    def reconstructor(self, options: JobOptions) -> Any:
        """The ``Reconstructor`` of these options (loaded once, then kept)."""
        from pifuhd.inference import Reconstructor

        key = (options.model, options.resolution, options.texture)
        if key not in self._reconstructors:
            self._reconstructors[key] = Reconstructor(
                self.models[options.model],
                device=self.device,
                resolution=options.resolution,
                texture=options.texture,
            )
        rec = self._reconstructors[key]
        rec.fit_body = True  # the page shows the fitted body over the photo
        return rec

    def __call__(self, job: Job) -> None:
        """Do ``job``: fill ``job.files`` and ``job.result``. Errors name the upload by its
        stem, never by the server's path."""
        out = job.folder / "out"
        out.mkdir(exist_ok=True)
        try:
            with listen_stages(job.stage):
                job.stage("model")
                rec = self.reconstructor(job.options)
                if job.options.mode == "avatar":
                    names, result = self._avatar(job, rec, out)
                else:
                    names, result = self._mesh(job, rec, out)
        except PifuhdError as exc:
            message = str(exc).replace(str(job.photo), f"{job.stem} (the uploaded file)")
            raise type(exc)(message) from exc
        job.files = {path.name: path for path in names}
        job.result = result

    def _mesh(self, job: Job, rec: Any, out: Path) -> tuple[list[Path], dict[str, Any]]:
        from pifuhd.io.mesh import save_mesh
        from pifuhd.outputs import write_outputs

        result = rec(job.photo, progress=job.progress)
        job.stage("files")
        extra = {"image": job.stem, "checkpoint": job.options.model}
        names = write_outputs(result, out, job.stem, "glb", extra)
        for fmt in ("obj", "ply"):
            names.append(out / f"{job.stem}.{fmt}")
            save_mesh(result.mesh, names[-1], fmt)
        names += body_files(job, result.body_fit, out)
        downloads = [(f"{fmt.upper()} mesh", f"{job.stem}.{fmt}") for fmt in ("obj", "ply", "glb")]
        page = page_result(job, result, f"{job.stem}.glb", downloads, names, [], result.timings)
        return names, page

    def _avatar(self, job: Job, rec: Any, out: Path) -> tuple[list[Path], dict[str, Any]]:
        from pifuhd.avatar.pipeline import make_avatar, write_avatar_files
        from pifuhd.outputs import write_outputs

        avatar = make_avatar(job.photo, rec, CLIPS)
        job.stage("files")
        extra = {"image": job.stem, "checkpoint": job.options.model}
        names = write_avatar_files(avatar, out, job.stem, extra)
        names += write_outputs(avatar.reconstruction, out, job.stem, "obj", extra)
        names += body_files(job, avatar.reconstruction.body_fit, out)
        stem = job.stem
        downloads = [
            ("rigged avatar GLB", f"{stem}_avatar.glb"),
            ("posed avatar OBJ", f"{stem}_posed.obj"),
            ("rest-pose avatar OBJ", f"{stem}_canonical.obj"),
            ("reconstruction OBJ", f"{stem}.obj"),
        ]
        clips = [clip.name for clip in avatar.skinned.clips]
        return names, page_result(
            job, avatar.reconstruction, f"{stem}_avatar.glb", downloads, names, clips,
            avatar.timings,
        )  # fmt: skip


def body_files(job: Job, fit: Any, out: Path) -> list[Path]:
    """The fitted body's mesh, JSON and overlay on the photo (none without a fit)."""
    if fit is None:
        return []
    from pifuhd.fit_outputs import write_body_files
    from pifuhd.io.images import load_image

    names = write_body_files(out, f"{job.stem}_body", fit, load_image(job.photo), "cube", {})
    return [out / name for name in names]


def page_result(
    job: Job,
    result: Any,
    viewer: str,
    downloads: list[tuple[str, str]],
    names: list[Path],
    clips: list[str],
    timings: dict[str, float],
) -> dict[str, Any]:
    """What the page needs to show a finished job (file names are served names)."""
    present = {path.name for path in names}
    images = {
        "normal_front": f"{job.stem}_normal_front.png",
        "normal_back": f"{job.stem}_normal_back.png",
        "body_overlay": f"{job.stem}_body_overlay.png",
    }
    return {
        "mode": job.options.mode,
        "viewer": viewer,
        "clips": clips,
        "images": {key: name for key, name in images.items() if name in present},
        "downloads": [[label, name] for label, name in downloads if name in present],
        "vertices": len(result.mesh.vertices),
        "faces": len(result.mesh.faces),
        "warnings": list(result.warnings),
        "timings_s": {k: round(float(v), 2) for k, v in timings.items()},
    }
