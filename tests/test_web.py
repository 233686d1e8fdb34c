"""``pifuhd serve`` over HTTP (no browser): what it serves, what it refuses, and its queue."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from pifuhd.web.app import sample_photo
from pifuhd.web.headless import running_server
from pifuhd.web.jobs import JobOptions, JobQueue, parse_options, safe_stem
from pifuhd.web.server import WebServer, static_files

SAMPLE = Path(__file__).parents[1] / "examples" / "person.png"
URL = re.compile(r"https?://[^\s'\"`)<>\\]+")
NAMESPACES = {"http://www.w3.org/1999/xhtml"}
"""XML namespace names: identifiers passed to ``document.createElementNS``, never fetched."""


@pytest.fixture
def server() -> Iterator[WebServer]:
    with running_server() as srv:
        yield srv


def request(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def upload(server: WebServer, data: bytes, name: str, **options: str) -> tuple[int, dict]:
    query = "&".join(f"{k}={v}" for k, v in {"name": name, **options}.items())
    status, body = request(f"{server.url}api/jobs?{query}", data)
    return status, json.loads(body)


def wait_done(server: WebServer, job_id: str, timeout: float = 300) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        status = json.loads(request(f"{server.url}api/jobs/{job_id}")[1])
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_served_pages_reference_no_external_host(server: WebServer) -> None:
    status, page = request(server.url)
    assert status == 200 and b'<canvas id="viewer"' in page
    files = {"/": page}
    for name in static_files():
        status, body = request(f"{server.url}static/{name}")
        assert status == 200
        files[name] = body
    assert "vendor/three.bundle.js" in files and "app.js" in files
    origin = server.url.rstrip("/")
    for name, body in files.items():
        text = body.decode("utf-8", errors="replace")
        for url in URL.findall(text):
            assert url.startswith(origin) or url in NAMESPACES, f"{name} refers to {url}"
    # and the browser is told to load nothing from anywhere else
    with urllib.request.urlopen(server.url, timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy


def test_bad_uploads_get_one_line_messages(server: WebServer) -> None:
    status, doc = upload(server, b"just some text\n", "notes.txt")
    assert status == 400
    assert doc["error"] == "notes.txt: not a recognised image format; upload a PNG or JPEG photo"
    bomb = io.BytesIO()
    Image.new("1", (10000, 6000)).save(bomb, "PNG")  # 60 megapixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    status, doc = upload(server, bomb.getvalue(), "huge.png")
    assert status == 400 and "too large to decode safely" in doc["error"]
    status, doc = upload(server, b"", "empty.png")
    assert status == 400 and "empty upload" in doc["error"]
    status, doc = upload(server, sample_photo(), "p.png", resolution="9999")
    assert status == 400 and "resolution '9999'" in doc["error"]
    server.app.max_upload = 1000
    status, doc = upload(server, sample_photo(), "big.png")
    assert status == 413 and "limit" in doc["error"]


def test_no_client_path_is_opened(server: WebServer, tmp_path: Path) -> None:
    for path in (
        "static/../pyproject.toml",
        "static/%2e%2e/%2e%2e/pyproject.toml",
        "static//etc/passwd",
        "api/jobs/" + "0" * 32 + "/files/..%2F..%2Fetc%2Fpasswd",
        "etc/passwd",
    ):
        status, body = request(server.url + path)
        assert status == 404, path
        assert b"root:" not in body
    # a page of another site (DNS rebinding) is refused
    status, _ = request(server.url, headers={"Host": "evil.example:7860"})
    assert status == 403


def test_loopback_addresses_are_recognised() -> None:
    from pifuhd.web.server import is_loopback

    assert all(map(is_loopback, ("127.0.0.1", "127.3.4.5", "::1", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.4", "example.org", "::")))


def test_serve_help_shows_defaults_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    from pifuhd.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "127.0.0.1" in text and "7860" in text and "pifuhd serve --port 8080" in text


def test_options_and_stems() -> None:
    models = ("default", "mine")
    assert parse_options({}, models) == JobOptions()
    assert parse_options({"model": "mine", "texture": "1", "mode": "avatar"}, models) == (
        JobOptions(model="mine", texture=True, mode="avatar")
    )
    for fields in ({"model": "other"}, {"mode": "video"}, {"resolution": "12"}):
        with pytest.raises(Exception, match=r"unknown|resolution"):
            parse_options(fields, models)
    assert safe_stem("C:\\photos\\..\\a b.c.jpg") == "a_b_c"
    assert safe_stem("....") == "photo"


def test_a_failing_job_keeps_the_queue_going(tmp_path: Path) -> None:
    from pifuhd.errors import InputError

    def run(job):
        if job.stem == "bad":
            raise InputError("bad: no person found; use a photo with a person in view")
        if job.stem == "bug":
            raise ZeroDivisionError("a bug")
        job.files = {"out.txt": job.folder / "out.txt"}
        (job.folder / "out.txt").write_text("ok")

    jobs = JobQueue(run, keep=2, root=tmp_path / "jobs")
    try:
        bad, bug, good = (jobs.submit(b"x", n, JobOptions()) for n in ("bad", "bug", "good"))
        assert jobs.wait_idle(10)
        assert (bad.state, bad.error) == (
            "failed",
            "bad: no person found; use a photo with a person in view",
        )
        assert (
            bug.state == "failed"
            and "Traceback" not in bug.error
            and "ZeroDivisionError" in bug.error
        )
        assert good.state == "done" and not good.photo.exists()
        assert jobs.get(bad.id) is None and not bad.folder.exists()  # only 2 kept
    finally:
        jobs.close()
    assert not (tmp_path / "jobs").exists()


def highest_x(mesh: trimesh.Trimesh) -> float:
    """x of the mesh's topmost vertices (the sample's raised hand)."""
    top = mesh.vertices[:, 1] > mesh.vertices[:, 1].max() - 0.05
    return float(mesh.vertices[top, 0].mean())


@pytest.mark.usefixtures("anny_cache")
def test_two_requests_at_once_run_one_after_the_other(server: WebServer) -> None:
    photo = Image.open(SAMPLE)
    mirrored = io.BytesIO()
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored, "PNG")
    payloads = {"plain.png": SAMPLE.read_bytes(), "mirrored.png": mirrored.getvalue()}
    answers: dict[str, dict] = {}

    def send(name: str) -> None:
        # 128: at 64 the default model loses the mirrored photo's raised forearm (model card)
        answers[name] = upload(server, payloads[name], name, resolution="128")[1]

    threads = [threading.Thread(target=send, args=(name,)) for name in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    positions = sorted(answers[name]["position"] for name in payloads)
    assert positions[1] >= 1  # the second waited behind the first
    done = {name: wait_done(server, answers[name]["id"]) for name in payloads}
    jobs = {name: server.app.jobs.get(done[name]["id"]) for name in payloads}
    first, second = sorted(jobs.values(), key=lambda j: j.started)
    assert second.started >= first.finished  # one after the other
    meshes = {}
    for name, status in done.items():
        assert status["state"] == "done", status["error"]
        stem = name.removesuffix(".png")
        assert status["name"] == stem
        heard = [name for name, _ in status["stages"]]
        assert heard[:4] == ["model", "load", "carve", "encode"] and "grid" in heard
        assert f"{stem}.obj" in status["files"] and f"{stem}_body_overlay.png" in status["files"]
        body = request(f"{server.url}api/jobs/{status['id']}/files/{stem}.obj")[1]
        meshes[name] = trimesh.load(io.BytesIO(body), file_type="obj", process=False)
        info = json.loads(request(f"{server.url}api/jobs/{status['id']}/files/{stem}.json")[1])
        assert info["image"] == stem
    # nothing mixed up: each mesh raises its hand on its own photo's side
    assert highest_x(meshes["plain.png"]) > 0.1
    assert highest_x(meshes["mirrored.png"]) < -0.1
    extent = np.ptp(meshes["plain.png"].vertices, axis=0)
    assert 1.0 < extent[1] < 2.0


@pytest.mark.usefixtures("anny_cache")
def test_a_second_model_given_at_start_is_offered_and_used(tmp_path: Path) -> None:
    """``pifuhd serve --checkpoint PATH``: the page lists it and a job can pick it."""
    from pifuhd.checkpoint.native import save_native
    from pifuhd.checkpoint.synthetic import give_surface, random_model
    from pifuhd.inference import Reconstructor
    from pifuhd.io.images import load_image
    from pifuhd.io.people import find_people
    from tests.conftest import PERSON, tiny_config

    net = random_model(tiny_config(), seed=0)
    image = load_image(PERSON)
    person = find_people(PERSON, image)[0]
    give_surface(net, Reconstructor(net, device="cpu").encode(image, person.crop, person.mask))
    checkpoint = save_native(net, tmp_path / "tiny")
    with running_server(checkpoint=checkpoint) as srv:
        config = json.loads(request(f"{srv.url}api/config")[1])
        assert config["models"] == ["default", "tiny"]
        status, doc = upload(srv, PERSON.read_bytes(), "p.png", model="tiny", resolution="32")
        assert status == 202
        done = wait_done(srv, doc["id"])
        assert done["state"] == "done", done["error"]
        info = json.loads(request(f"{srv.url}api/jobs/{doc['id']}/files/p.json")[1])
        assert info["checkpoint"] == "tiny" and info["resolution"] == 32
    with pytest.raises(Exception, match="no such checkpoint"):
        running_server(checkpoint=tmp_path / "missing").__enter__()
