"""Smoke test of bench/floor.py: one short round runs end to end (isolated inference, the exact stages in
a child process, bare gunicorn under load) and prints every row of its table; the figures are not asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_one_short_round_prints_the_floor_table():
    done = subprocess.run(
        [sys.executable, "bench/floor.py", "--rounds", "1", "--duration", "1", "--connections", "2"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    labels = [row.split(" | ")[0].lstrip("| ") for row in rows[2:]]
    assert labels[0] == "isolated `invoke` (thread CPU)", done.stdout
    assert "**floor / isolated**" in labels and "bare HTTP req/s, flat out" in labels, done.stdout
    ratio = next(row for row in rows if "**floor / isolated**" in row)
    assert float(ratio.split(" | ")[1].split("x")[0]) > 1.0, ratio
