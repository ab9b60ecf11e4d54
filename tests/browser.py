"""Driving a real browser from tests and scripts: Debian's chromium through Playwright.

Playwright's own browser downloads are never used (nothing may be fetched): it drives the
system's ``/usr/bin/chromium`` (Debian package ``chromium``; ``.ci/run`` installs it).
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# CI runs as root, where chromium's sandbox cannot start; the rest keeps a headless run from
# reaching anything but the page under test (no update checks, no sync, no QUIC probes).
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "Debian's chromium package is not installed (.ci/run installs it as root): needed by the browser tests"


def launch(playwright):
    """A headless chromium from ``playwright.sync_api.sync_playwright()``; the caller closes it."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
