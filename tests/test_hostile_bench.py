"""Smoke test of the hostile-load harness: `bench/hostile.py --quick` runs end to end.

Two cheap, deterministic attacks only (nested JSON and stalled half headers).
The goals are benchmark figures, not timed tests: this checks that the table is
printed, that no results file is written, and that nothing is left running.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "hostile-results.md"
pytestmark = pytest.mark.slow


def _pids_in_session(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: the session id
                found.append(int(entry.name))
    return found


def test_quick_hostile_run_prints_the_table_and_cleans_up():
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    done = subprocess.run(
        [sys.executable, "bench/hostile.py", "--quick", "--duration", "4", "--attacks", "nested_json,stalled_headers"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 1 only says a goal was missed, which today it is: not this test's business
    assert done.returncode in (0, 1), f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    lines = done.stdout.splitlines()
    for row in (
        "| goal | measured | target | |",
        "| `/health` |",
        "| legit classify",
        "| worker deaths |",
        "| peak RSS (VmHWM) per worker |",
        "| peak RSS (VmHWM) per decoder process |",
        "| nested_json | 1 |",
        "| stalled_headers | 8 |",
        "| worker |",
    ):
        assert any(line.startswith(row) for line in lines), f"no row {row!r} in:\n{done.stdout}"
    assert re.search(r"^Overall: (PASS|\*\*FAIL\*\*)$", done.stdout, re.M), done.stdout

    # --quick writes no results file
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before

    # the service it started is gone: nothing listens on its port, nothing is left in its session
    port = int(re.search(r"on port (\d+)", done.stderr).group(1))
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the attacked service is still listening"
    master = int(re.search(r"^\| master \| (\d+) \|", done.stdout, re.M).group(1))
    assert _pids_in_session(master) == [], "processes of the service's session are still running"
