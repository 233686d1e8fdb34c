"""The web app as a user meets it: seconds from an upload to the mesh shown in the viewer.

Starts ``pifuhd serve``'s server in this process (port 0), opens the page in headless Chromium
(Debian's ``chromium``, driven by Playwright), uploads the photo ``--repeats`` times one after
the other and times each from the file input's change to the viewer's "loaded" mark (upload,
queue, reconstruction, files, the GLB fetched, parsed and drawn). The first upload also loads
the model and the body model into the fresh server: it is reported apart. Run it on a quiet
machine:

    python3 benchmarks/web_latency.py examples/person.png -r 256 --repeats 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from pifuhd.web.headless import CHROMIUM_ARGS, running_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("-r", "--resolution", default="256")
    parser.add_argument("--mode", default="mesh", choices=["mesh", "avatar"])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    shown, stages = [], []
    with running_server() as server, sync_playwright() as play:
        browser = play.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        page.select_option("#resolution", args.resolution)
        page.check(f"input[name=mode][value={args.mode}]")
        for index in range(args.repeats):
            start = time.perf_counter()
            page.set_input_files("#files", str(args.image))
            page.locator("#jobs li.done").nth(index).wait_for(timeout=900_000)
            page.wait_for_selector("#viewer[data-loaded='1']", timeout=120_000)
            shown.append(time.perf_counter() - start)
            job = page.locator("#jobs li").nth(index).get_attribute("data-job")
            with urllib.request.urlopen(f"{server.url}api/jobs/{job}") as response:
                status = json.loads(response.read())
            stages.append(status["result"]["timings_s"])
            print(
                f"upload {index + 1}: shown after {shown[-1]:.2f} s; "
                f"server job {status['seconds']:.2f} s; stages {stages[-1]}",
                flush=True,
            )
        browser.close()
    warm = shown[1:]
    print(f"first upload (model loaded into the fresh server): {shown[0]:.2f} s")
    if warm:
        print(
            f"later uploads: median {statistics.median(warm):.2f} s, "
            f"min {min(warm):.2f}, max {max(warm):.2f} (n = {len(warm)})"
        )


if __name__ == "__main__":
    main()
