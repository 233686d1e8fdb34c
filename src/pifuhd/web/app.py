"""Start the web app: the models, the job queue, the HTTP server (``pifuhd serve``)."""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

from pifuhd.errors import InputError
from pifuhd.web.jobs import JobQueue
from pifuhd.web.server import DEFAULT_PORT, MAX_UPLOAD_MB, App, WebServer, is_loopback
from pifuhd.web.work import PhotoWork

log = logging.getLogger(__name__)


def sample_photo() -> bytes:
    """The bundled sample photo (the same file as the repository's ``examples/person.png``)."""
    return (resources.files("pifuhd.web") / "static" / "sample.png").read_bytes()


def server_models(checkpoint: str | os.PathLike | None) -> dict[str, str | os.PathLike]:
    """The page's model choices: the bundled default, and the checkpoint given at start-up."""
    from pifuhd.weights import default_checkpoint

    models: dict[str, str | os.PathLike] = {"default": default_checkpoint()}
    if checkpoint is not None:
        if not Path(checkpoint).exists():
            raise InputError(f"{checkpoint}: no such checkpoint; check the --checkpoint path")
        models[Path(checkpoint).name or "checkpoint"] = checkpoint
    return models


def make_server(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    checkpoint: str | os.PathLike | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
    keep: int = 16,
    device: str = "auto",
) -> WebServer:
    """A ready server (``port`` 0: any free port; ``server.url`` says which). Call
    ``serve_forever()``, and ``close(server)`` after it."""
    if not is_loopback(host):
        log.warning(
            "serving on %s: anyone who can reach this machine can use the app and its CPU; "
            "the default --host 127.0.0.1 keeps it to this machine",
            host,
        )
    models = server_models(checkpoint)
    jobs = JobQueue(PhotoWork(models, device=device), keep=keep)
    app = App(jobs, tuple(models), int(max_upload_mb * 2**20), sample_photo())
    try:
        return WebServer((host, port), app)
    except OSError as exc:
        jobs.close()
        raise InputError(
            f"cannot listen on {host}:{port} ({exc.strerror}); try another --port"
        ) from exc


def close(server: WebServer) -> None:
    """Stop accepting requests and delete every job's files."""
    server.server_close()
    server.app.jobs.close()
