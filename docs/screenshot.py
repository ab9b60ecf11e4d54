"""Regenerate docs/page.png, the README's picture of the page at /, with a result on it.

    .venv/bin/python docs/screenshot.py

It starts the service as deployed (``bench/service.py``: ``gunicorn app:app``), opens the page in
Debian's chromium (``tests/browser.py``), uploads tests/data/images/chelsea.png through the file
input and takes a screenshot of the whole page. tests/web/test_page.py runs :func:`capture`
too, so the script keeps working.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "tests" / "data" / "images" / "chelsea.png"
OUT = ROOT / "docs" / "page.png"
VIEWPORT = {"width": 720, "height": 800}


def capture(browser, base: str, out: Path) -> Path:
    """The page at ``base`` after classifying chelsea.png, as a 256-colour PNG at ``out``."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light", reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(f"{base}/")
        page.set_input_files("#file", str(IMAGE))
        page.wait_for_selector("#results .result img.preview")
        page.wait_for_function("document.querySelector('#results img.preview').complete")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        png = page.screenshot(full_page=True)
    finally:
        context.close()
    # 256 colours: the photo in the preview makes a full-colour PNG several times larger.
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(out, optimize=True)
    return out


def main() -> None:
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]
    from browser import launch  # tests/browser.py
    from playwright.sync_api import sync_playwright
    from service import Service  # bench/service.py

    with tempfile.TemporaryDirectory() as workdir:
        service = Service(Path(workdir), {"WEB_CONCURRENCY": "1"})
        try:
            service.start()
            service.wait_ready()
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    out = capture(browser, service.base, OUT)
                finally:
                    browser.close()
        finally:
            service.stop()
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
