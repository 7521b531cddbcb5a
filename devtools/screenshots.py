"""The README's pictures of what a visitor sees: each page at 1440x900 and Explore on a 390x844 phone, made from the
running app, so they can be made again after a change.

    python -m devtools.screenshots            # writes docs/screenshots/*.png

It starts the app (`streamlit run app.py` on a free port, with a model store of its own), opens each page in
Chromium as a first visit does, waits for what the page draws, and keeps the first screen, as a palette PNG.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

from devtools.browser import (
    REPO_ROOT,
    StreamlitServer,
    launch_chromium,
    wait_for_app,
    wait_for_map,
)

OUT = REPO_ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# Each page's file name, path and the heading that says it has drawn.
PAGES = [
    ("explore", "/", "Explore the latent space"),
    ("edit", "/edit", re.compile(r"^Edit")),
    ("sample", "/sample", re.compile(r"^Sample")),
    ("compare", "/compare", re.compile(r"^Compare")),
    ("train", "/train", re.compile(r"^Train")),
]
SETTLE_MS = 1500  # after the page has drawn: the browser's own decodes and fonts land
PALETTE_COLOURS = 256  # a palette PNG of a page is a fifth of a full-colour one, and looks the same


def open_page(page, url: str, path: str, heading) -> None:
    page.goto(url + path, wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("heading", name=heading).first, timeout_s=180)
    if path == "/":
        wait_for_map(page, timeout_s=180)
    elif path != "/train":
        wait_for_app(page, page.get_by_test_id("stImage"), timeout_s=180)
    page.wait_for_timeout(SETTLE_MS)


def save(png: bytes, target: Path) -> None:
    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGB").quantize(PALETTE_COLOURS)
    picture.save(target, optimize=True)
    print(f"{target.relative_to(REPO_ROOT)}: {picture.width}x{picture.height}, {target.stat().st_size // 1024} KiB")


def take(browser, url: str, out: Path) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(180_000)
    page = context.new_page()
    for name, path, heading in PAGES:
        open_page(page, url, path, heading)
        save(page.screenshot(), out / f"{name}-1440x900.png")
    context.close()
    phone = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    phone.set_default_timeout(180_000)
    page = phone.new_page()
    open_page(page, url, "/", PAGES[0][2])
    save(page.screenshot(), out / "explore-phone-390x844.png")
    phone.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the PNG files (default: docs/screenshots)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "screenshots-server.log").start()
    try:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                take(browser, server.url, args.out)
            finally:
                browser.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
