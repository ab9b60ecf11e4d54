"""Smoke test of the benchmark harness: `bench/run.py --quick` works end to end.

It starts the real service under gunicorn, drives it with wrk (installing wrk
first on a fresh machine) and must leave nothing running behind it.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
pytestmark = pytest.mark.slow


def test_quick_benchmark_prints_the_table_and_cleans_up():
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    lines = done.stdout.splitlines()
    assert any(line.startswith("| mode | image | conc | req/s |") for line in lines), done.stdout
    for row in (
        "| start → first /ready",
        "| upload | 640x480 JPEG | 8 |",
        "| url | 640x480 JPEG | 8 |",
        "| soak upload (after ",
    ):
        assert any(line.startswith(row) for line in lines), f"no row {row!r} in:\n{done.stdout}"

    # --quick writes no results file
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before

    # the service it started is gone
    port = int(re.search(r"on port (\d+)", done.stderr).group(1))
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the benchmarked service is still listening"
