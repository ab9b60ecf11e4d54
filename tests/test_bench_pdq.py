"""Smoke test of bench/pdq_cost.py: it runs end to end and prints its table; the figures are not asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_pdq_cost_run_prints_the_table():
    done = subprocess.run(
        [sys.executable, "bench/pdq_cost.py", "--quick"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| size | MP | hash_frame CPU ms |"), done.stdout
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| 640x480", "| 12 MP"]
