"""The web app's picture for docs/web.md: the bundled sample (a synthetic person) reconstructed
with colours, turned to the side, in headless Chromium.

    python3 tools/web_screenshot.py -o docs/web_app.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from pifuhd.web.headless import CHROMIUM_ARGS, running_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/web_app.png"))
    parser.add_argument("--view", default="side", choices=["front", "side", "back", "other"])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with running_server() as server, sync_playwright() as play:
        browser = play.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        page.check("#texture")
        page.click("#sample")
        page.wait_for_selector("#viewer[data-loaded='1']", timeout=600_000)
        page.click(f"button[data-view={args.view}]")
        page.wait_for_timeout(500)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
