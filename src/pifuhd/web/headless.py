"""The web app in this process for scripts and tests: a server on a free loopback port, run in
a thread, and the flags headless Chromium needs to draw the viewer without a GPU."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pifuhd.web.app import close, make_server
from pifuhd.web.server import WebServer

CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
"""Software WebGL (SwiftShader) for machines without a GPU; no sandbox, for runs as root."""


@contextmanager
def running_server(**options: Any) -> Iterator[WebServer]:
    """A served app (``make_server`` options; the port is chosen free) for the block; then it
    is stopped and its job folders deleted."""
    server = make_server(port=0, **options)
    threading.Thread(target=server.serve_forever, name="pifuhd-serve", daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        close(server)
