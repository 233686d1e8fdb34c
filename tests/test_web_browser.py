"""``pifuhd serve`` end to end in headless Chromium (Debian's ``chromium``, driven by
Playwright): upload the sample, see the mesh in the 3D viewer, turn it to the side, download
it; the one-click sample as an avatar with its clips; a non-image and its message.

CI (``CI=true``) installs Chromium in ``.ci/run`` and must run this test; elsewhere it is
skipped when no Chromium or Playwright is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from pifuhd.web.headless import CHROMIUM_ARGS, running_server
from pifuhd.web.server import WebServer

SAMPLE = Path(__file__).parents[1] / "examples" / "person.png"
BACKGROUND = np.array([223, 226, 232])
"""The viewer's background colour (#dfe2e8)."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    executable = chromium_path()
    if sync_playwright is None or executable is None:
        missing = "playwright" if sync_playwright is None else "chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing: .ci/run installs it; the web app is not tested")
        pytest.skip(
            f"{missing} is not installed (apt-get install chromium; pip install playwright)"
        )
    with sync_playwright() as play:
        instance = play.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def server() -> Iterator[WebServer]:
    with running_server() as srv:
        yield srv


def model_pixels(png: bytes) -> np.ndarray:
    """(H, W) bool: pixels of a viewer screenshot that are not its background."""
    import io

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)
    return np.abs(rgb - BACKGROUND).max(axis=2) > 24


def wait_for_view(page, timeout_ms: int) -> None:
    page.wait_for_selector("#viewer[data-loaded='1']", timeout=timeout_ms)


@pytest.mark.usefixtures("anny_cache")
def test_upload_view_turn_download_and_bad_file(browser, server: WebServer, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")

    # the sample photo, uploaded as a user would, at resolution 256
    start = time.perf_counter()
    page.set_input_files("#files", str(SAMPLE))
    wait_for_view(page, 300_000)
    seconds = time.perf_counter() - start
    assert "done in" in page.inner_text("#jobs")
    viewer = page.locator("#viewer")
    front = model_pixels(viewer.screenshot())
    page.click("button[data-view=side]")
    page.wait_for_timeout(300)
    assert viewer.get_attribute("data-view") == "side"
    side = model_pixels(viewer.screenshot())
    height, width = side.shape
    for shown in (front, side):
        rows, cols = np.nonzero(shown)
        assert shown.mean() > 0.02  # a person, not a blank canvas
        assert rows.max() - rows.min() > 0.6 * height  # framed: fills most of the height
        assert abs(cols.mean() - width / 2) < 0.15 * width  # and is centred
    # a person from the side is much narrower than from the front
    assert np.ptp(np.nonzero(side)[1]) < 0.8 * np.ptp(np.nonzero(front)[1])
    for key in ("normal_front", "normal_back", "body_overlay"):
        assert page.locator(f"#images img[src$='person_{key}.png']").count() == 1

    with page.expect_download() as download:
        page.click("#downloads a:has-text('OBJ')")
    saved = tmp_path / "person.obj"
    download.value.save_as(saved)
    mesh = trimesh.load(saved, process=False)
    assert len(mesh.vertices) > 10_000 and mesh.is_watertight
    assert 1.0 < np.ptp(mesh.vertices[:, 1]) < 2.0  # the person's height in the crop's cube

    # a file that is not an image: a one-line message in the page, no trace
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo\n")
    page.set_input_files("#files", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    message = page.inner_text("#error")
    assert message == "notes.txt: not a recognised image format; upload a PNG or JPEG photo"

    # the one-click sample as an avatar: the rigged GLB plays its clips
    page.check("input[name=mode][value=avatar]")
    page.select_option("#resolution", "128")
    page.click("#sample")
    page.locator("#jobs li.done").nth(1).wait_for(timeout=600_000)
    wait_for_view(page, 60_000)
    clips = page.locator("#clip option").all_inner_texts()
    assert clips == ["walk", "wave", "the photo's pose"]
    assert page.locator("#downloads a:has-text('rigged avatar GLB')").count() == 1
    page.click("button[data-view=side]")  # a walk swings the legs forward and back
    first = model_pixels(viewer.screenshot())
    assert first.mean() > 0.01
    changed = 0.0  # the walk clip plays: within 4 s a frame differs (a busy headless
    for _ in range(10):  # Chromium once drew no new frame in a single 400 ms wait)
        page.wait_for_timeout(400)
        changed = (first ^ model_pixels(viewer.screenshot())).mean()
        if changed > 0.002:
            break
    assert changed > 0.002
    page.select_option("#clip", "-1")
    page.click("button[data-view=front]")
    page.wait_for_timeout(200)
    posed = model_pixels(viewer.screenshot())
    rows, cols = np.nonzero(posed)
    top = rows < rows.min() + 0.1 * np.ptp(rows)  # the sample raises her left hand
    assert cols[top].mean() > cols.mean()

    origin = server.url.rstrip("/")
    assert all(url.startswith((origin, "blob:", "data:")) for url in requested), requested
    print(f"upload to shown mesh at -r 256: {seconds:.1f} s")
