"""Take a picture of an HTML page (a pytest-seeded report) with Debian's headless Chromium,
driven by Playwright, for the docs (docs/report.png):

    python devtools/screenshot.py study-out/one-report.html docs/report.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--height", type=int, default=1000, help="pixels of the page to show")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print(
            "screenshot: needs Debian's chromium package (apt-get install chromium)",
            file=sys.stderr,
        )
        return 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": args.height})
        page.goto(args.page.resolve().as_uri())
        page.screenshot(path=str(args.png))
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
