"""``pifuhd serve``: a local web app, a photo in and a 3D person (or an avatar) out.

Why a small standard-library server and not Gradio: everything the page loads ships in this
package (``static/``: the page, its script, and three.js's core, glTF loader and orbit
controls bundled from npm by ``tools/viewer/build.sh``), so it works offline with no CDN, web
font or telemetry, and a test can read every byte the browser gets. Gradio would add some fifty
Python packages, and its front end loads fonts and scripts from the internet unless patched.

Routes (nothing else is served):

- ``GET /`` the page; ``GET /static/NAME`` its files (an allow-list read at start-up);
- ``GET /api/config`` the models, resolutions and upload limit;
- ``POST /api/jobs?model=&resolution=&texture=&mode=&name=`` a photo's bytes as the request
  body (at most ``max_upload`` bytes); ``POST /api/sample?...`` the bundled sample photo;
- ``GET /api/jobs/ID`` a job's status; ``GET /api/jobs/ID/files/NAME`` one of its files, by a
  name the server gave it. No path from a request is ever opened.

Safety: binds 127.0.0.1 unless told otherwise; on a loopback address the Host header must name
the server (a page of another site cannot reach it by DNS rebinding); every response forbids
loading anything from another origin (Content-Security-Policy ``'self'``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import mimetypes
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pifuhd.errors import InputError
from pifuhd.web.jobs import JobQueue, parse_options
from pifuhd.web.upload import check_upload

log = logging.getLogger(__name__)

DEFAULT_PORT = 7860
MAX_UPLOAD_MB = 20
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' blob: data:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
JOB_PATH = re.compile(r"^/api/jobs/([0-9a-f]{32})(?:/files/([^/]+))?$")


def static_files() -> dict[str, bytes]:
    """Every file of the package's ``web/static`` folder, by its path under it."""
    root = resources.files("pifuhd.web") / "static"
    found: dict[str, bytes] = {}

    def walk(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                walk(entry, f"{name}/")
            elif not entry.name.startswith("."):
                found[name] = entry.read_bytes()

    walk(root, "")
    return found


def content_type(name: str) -> str:
    """The MIME type of a served file (JavaScript modules and glTF binaries included)."""
    if name.endswith((".js", ".mjs")):
        return "text/javascript; charset=utf-8"
    if name.endswith(".glb"):
        return "model/gltf-binary"
    guess = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guess}; charset=utf-8" if guess.startswith("text/") else guess


class App:
    """What the handler serves: the static files, the jobs, the server's options."""

    def __init__(
        self, jobs: JobQueue, models: tuple[str, ...], max_upload: int, sample: bytes
    ) -> None:
        self.jobs = jobs
        self.models = models
        self.max_upload = max_upload
        self.sample = sample
        self.static = static_files()
        self.allowed_hosts: set[str] | None = None
        """Host header values accepted (None: any, when bound to a non-loopback address)."""

    def config(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "resolutions": [128, 256, 384, 512],
            "default_resolution": 256,
            "max_upload_mb": round(self.max_upload / 2**20, 1),
        }


class Handler(BaseHTTPRequestHandler):
    """One request of the web app (routes: module docstring)."""

    server_version = "pifuhd"
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> App:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if not self.host_allowed():
            return
        path = urlsplit(self.path).path
        if path == "/":
            self.send_bytes(self.app.static["index.html"], "text/html; charset=utf-8")
        elif path.startswith("/static/") and path[len("/static/") :] in self.app.static:
            name = path[len("/static/") :]
            self.send_bytes(self.app.static[name], content_type(name))
        elif path == "/api/config":
            self.send_json(self.app.config())
        elif match := JOB_PATH.match(path):
            self.job_get(match.group(1), match.group(2))
        else:
            self.send_error_json(HTTPStatus.NOT_FOUND, f"nothing at {path}")

    def do_POST(self) -> None:
        if not self.host_allowed():
            return
        url = urlsplit(self.path)
        fields = dict(parse_qsl(url.query))
        if url.path not in ("/api/jobs", "/api/sample"):
            self.send_error_json(HTTPStatus.NOT_FOUND, f"nothing at {url.path}")
            return
        try:
            options = parse_options(fields, self.app.models)
            if url.path == "/api/sample":
                self.discard_body()
                data, name = self.app.sample, "sample"
            else:
                data, name = self.read_body(), fields.get("name", "photo")
                check_upload(data, name)
        except InputError as exc:
            self.send_error_json(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except UploadTooLargeError as exc:
            self.send_error_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
            self.close_connection = True
            return
        job = self.app.jobs.submit(data, name, options)
        self.send_json(self.app.jobs.status(job), HTTPStatus.ACCEPTED)

    def job_get(self, job_id: str, name: str | None) -> None:
        job = self.app.jobs.get(job_id)
        if job is None:
            self.send_error_json(
                HTTPStatus.NOT_FOUND, "no such job (finished jobs are kept a while)"
            )
        elif name is None:
            self.send_json(self.app.jobs.status(job))
        elif name in job.files:
            data = job.files[name].read_bytes()
            self.send_bytes(data, content_type(name), download=name)
        else:
            self.send_error_json(HTTPStatus.NOT_FOUND, f"the job has no file {name!r}")

    def host_allowed(self) -> bool:
        allowed = self.app.allowed_hosts
        if allowed is None or self.headers.get("Host", "") in allowed:
            return True
        self.send_error_json(HTTPStatus.FORBIDDEN, "unknown Host header")
        return False

    def read_body(self) -> bytes:
        """The request body, at most the upload limit (``UploadTooLargeError`` beyond it)."""
        length = self.content_length()
        if length > self.app.max_upload:
            limit = self.app.max_upload / 2**20
            raise UploadTooLargeError(
                f"the photo is {length / 2**20:.1f} MB, more than this server's {limit:.0f} MB "
                "limit; downscale it (or start the server with a larger --max-upload-mb)"
            )
        if length == 0:
            raise InputError("empty upload (0 bytes): choose a photo file")
        return self.rfile.read(length)

    def discard_body(self) -> None:
        length = min(self.content_length(), self.app.max_upload)
        if length:
            self.rfile.read(length)

    def content_length(self) -> int:
        text = self.headers.get("Content-Length", "0")
        if not text.isdigit():
            raise InputError("the upload has no valid Content-Length")
        return int(text)

    def send_json(self, doc: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_bytes(json.dumps(doc).encode(), "application/json", status=status)

    def send_error_json(self, status: HTTPStatus, message: str) -> None:
        self.send_json({"error": message}, status)

    def send_bytes(
        self,
        data: bytes,
        kind: str,
        status: HTTPStatus = HTTPStatus.OK,
        download: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        if download is not None:
            self.send_header("Content-Disposition", f'inline; filename="{download}"')
        self.end_headers()
        self.wfile.write(data)


class UploadTooLargeError(Exception):
    """An upload beyond the server's limit (answered with 413)."""


class WebServer(ThreadingHTTPServer):
    """The HTTP server holding the :class:`App`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, Handler)
        self.app = app
        host, port = self.server_address[:2]
        if is_loopback(str(host)):
            names = ("127.0.0.1", "localhost", "[::1]", str(host))
            app.allowed_hosts = {f"{name}:{port}" for name in names}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or "localhost") is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
