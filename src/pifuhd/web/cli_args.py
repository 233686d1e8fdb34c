"""``pifuhd serve``: its arguments and the command."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from pifuhd.web.server import DEFAULT_PORT, MAX_UPLOAD_MB


def add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="a local web app: photos in, a 3D person or avatar out, in the browser",
        description="A web app on this machine: drop photos, turn the result around in a 3D "
        "viewer, download the meshes. Everything it loads ships with the package (offline). "
        "Without --checkpoint the bundled model is used.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; anything but a loopback address lets other machines in",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="0: any free port")
    serve.add_argument("-c", "--checkpoint", type=Path, help="a second model the page can choose")
    serve.add_argument(
        "--max-upload-mb", type=float, default=MAX_UPLOAD_MB, help="largest photo accepted"
    )
    serve.add_argument(
        "--keep", type=int, default=16, help="finished jobs whose files stay downloadable"
    )
    serve.add_argument("--device", default="auto")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from pifuhd.web.app import close, make_server

    server = make_server(
        args.host, args.port, args.checkpoint, args.max_upload_mb, args.keep, args.device
    )
    signal.signal(signal.SIGTERM, stop_on_signal)
    print(f"pifuhd web app on {server.url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        close(server)
    return 0


def stop_on_signal(signum: int, frame: Any) -> None:
    """SIGTERM stops the server as Ctrl-C does, so the job folders are deleted."""
    raise KeyboardInterrupt
