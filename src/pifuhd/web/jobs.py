"""The web app's jobs: one photo each, run one at a time in submission order, each in its own
temporary folder, kept for a while and then deleted.

A job's life: ``queued`` (its place in the queue is shown) -> ``running`` (the stage names of
``pifuhd.stages`` and the grid's points as they come) -> ``done`` (its files, by name) or
``failed`` (a one-line message for the page: a ``PifuhdError``'s text; anything else is a bug,
logged with its traceback on the server, and the page is told only that and where to look).
"""

from __future__ import annotations

import logging
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pifuhd.errors import InputError, PifuhdError

log = logging.getLogger(__name__)

MODES = ("mesh", "avatar")
RESOLUTION_RANGE = (32, 512)
"""Grid resolutions a page may ask for (the page offers 128, 256, 384 and 512)."""
STEM_PATTERN = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class JobOptions:
    """What the page asked for: the model's name (one of the server's), the grid resolution,
    vertex colours from the colour net, and a plain mesh or a rigged avatar."""

    model: str = "default"
    resolution: int = 256
    texture: bool = False
    mode: str = "mesh"


def parse_options(fields: dict[str, str], models: tuple[str, ...]) -> JobOptions:
    """Check a request's options (``fields``: name -> text) against what the server offers.

    Raises:
        InputError: an unknown model or mode, or a resolution that is not a whole number in
            ``RESOLUTION_RANGE``.
    """
    model = fields.get("model", models[0])
    if model not in models:
        raise InputError(f"unknown model {model!r}: this server offers {', '.join(models)}")
    mode = fields.get("mode", "mesh")
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}: choose mesh or avatar")
    text = fields.get("resolution", "256")
    low, high = RESOLUTION_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise InputError(f"resolution {text!r}: give a whole number from {low} to {high}")
    texture = fields.get("texture", "0").lower() in ("1", "true", "on", "yes")
    return JobOptions(model=model, resolution=int(text), texture=texture, mode=mode)


def safe_stem(name: str, fallback: str = "photo") -> str:
    """A file stem made from a client's file name: its last path part without the extension,
    only letters, digits, ``_`` and ``-``, at most 40 characters. It names files the server
    writes in its own folder; the client's name is never opened as a path.

    >>> safe_stem("../../etc/My photo (1).JPG")
    'My_photo_1'
    """
    base = re.split(r"[\\/]", name)[-1]
    base = base.rsplit(".", 1)[0] if "." in base else base
    stem = STEM_PATTERN.sub("_", base).strip("_-")[:40]
    return stem or fallback


@dataclass
class Job:
    """One photo's work and what the page is told about it."""

    id: str
    stem: str
    options: JobOptions
    folder: Path
    photo: Path
    state: str = "queued"
    stages: list[list[Any]] = field(default_factory=list)
    """[name, seconds since the job started] per stage heard, in order."""
    grid: tuple[int, int] = (0, 0)
    error: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    """Served name -> file in ``folder``: the only files a request may fetch."""
    result: dict[str, Any] = field(default_factory=dict)
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def stage(self, name: str) -> None:
        """Record that stage ``name`` started (a ``pifuhd.stages`` listener)."""
        self.stages.append([name, round(time.time() - (self.started or time.time()), 2)])

    def progress(self, stage: str, done: int, scheduled: int) -> None:
        """The grid's progress callback (``pifuhd.reconstruction.StageCallback``)."""
        self.grid = (done, scheduled)


Runner = Callable[[Job], None]


class JobQueue:
    """Jobs run one at a time by one worker thread, in submission order.

    Args:
        run: does a job's work; fills ``job.files`` and ``job.result``; raises
            ``PifuhdError`` for bad input.
        keep: finished jobs kept (with their folders) for the page to fetch; older ones are
            deleted as new ones finish.
        root: where the job folders go (default: a new temporary folder, deleted by
            :meth:`close`).
    """

    def __init__(self, run: Runner, keep: int = 16, root: Path | None = None) -> None:
        self._run = run
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="pifuhd-serve-")) if root is None else root
        self._jobs: dict[str, Job] = {}
        self._waiting: list[str] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._closing = False
        self._worker = threading.Thread(target=self._loop, name="pifuhd-jobs", daemon=True)
        self._worker.start()

    def submit(self, data: bytes, name: str, options: JobOptions) -> Job:
        """Queue a photo (its bytes as uploaded; ``name`` only makes the file stem)."""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(parents=True)
        photo = folder / "upload"
        photo.write_bytes(data)
        job = Job(id=job_id, stem=safe_stem(name), options=options, folder=folder, photo=photo)
        with self._lock:
            self._jobs[job_id] = job
            self._waiting.append(job_id)
        self._queue.put(job_id)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """Jobs ahead of a queued one (the running one included); 0 once it runs."""
        with self._lock:
            if job.id not in self._waiting:
                return 0
            running = any(j.state == "running" for j in self._jobs.values())
            return self._waiting.index(job.id) + int(running)

    def status(self, job: Job) -> dict[str, Any]:
        """What the page polls: state, place in the queue, stages, files, error."""
        return {
            "id": job.id,
            "name": job.stem,
            "state": job.state,
            "position": self.position(job),
            "options": vars(job.options),
            "stages": list(job.stages),
            "grid": list(job.grid),
            "error": job.error,
            "files": sorted(job.files),
            "result": job.result,
            "seconds": None if job.finished is None else round(job.finished - job.submitted, 2),
            "work_seconds": None
            if job.finished is None or job.started is None
            else round(job.finished - job.started, 2),
        }

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                job = self._jobs[job_id]
                self._waiting.remove(job_id)
                job.state, job.started = "running", time.time()
            if self._closing:
                job.state, job.error, job.finished = "failed", "the server stopped", time.time()
                continue
            self._execute(job)
            self._forget_old()

    def _execute(self, job: Job) -> None:
        try:
            self._run(job)
        except PifuhdError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # a bug: keep the server up, the trace in the server's log
            log.exception("job %s (%s) failed", job.id, job.stem)
            job.error = f"internal error ({type(exc).__name__}); the server's log has the details"
            job.state = "failed"
        else:
            job.state = "done"
        finally:
            job.finished = time.time()
            job.photo.unlink(missing_ok=True)

    def _forget_old(self) -> None:
        with self._lock:
            done = [j for j in self._jobs.values() if j.finished is not None]
            done.sort(key=lambda j: j.finished or 0.0)
            old = done[: max(0, len(done) - self.keep)]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            remove_folder(job.folder)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running (tests); False on time-out."""
        end = time.time() + timeout
        while time.time() < end:
            with self._lock:
                busy = any(j.finished is None for j in self._jobs.values())
            if not busy:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Stop the worker after the job it runs (the queued ones are dropped), and delete
        every job's folder."""
        self._closing = True
        self._queue.put(None)
        self._worker.join(timeout=600)
        remove_folder(self.root)


def remove_folder(folder: Path) -> None:
    """Delete a job folder; a failure is logged (the server goes on), not raised."""
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("could not delete %s: %s", folder, exc)
