"""Smoke test of `bench/sizes.py`: it runs end to end, prints its table, writes nothing, leaves nothing.

The figures are benchmark output, not asserted: only that each mode measured the image.
Also checks that the large bench payloads are the same bytes on every call (seeded).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "sizes-results.md"
sys.path.insert(0, str(ROOT / "bench"))

import payloads  # noqa: E402  (bench/ is not a package)


@pytest.mark.slow
def test_quick_sizes_run_prints_the_table():
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    done = subprocess.run(
        [sys.executable, "bench/sizes.py", "--quick", "--images", "0.3mp,screenshot", "--requests", "1"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| image | MP | bytes | CPU ms/request, exact |"), done.stdout
    assert [row.split(" | ")[0] for row in rows[2:]] == ["| 640x480 JPEG", "| 1920x1080 PNG screenshot"]
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before  # --quick writes nothing


def test_large_payloads_are_deterministic():
    assert payloads.photo_jpeg(320, 240) == payloads.photo_jpeg(320, 240)
    assert payloads.screenshot_png() == payloads.screenshot_png()
    assert payloads.declared_size(payloads.heif_grid_bomb()) == (60000, 50000)
