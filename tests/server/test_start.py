"""A start that cannot work stops at once, in one line, with a non-zero exit, and leaves nothing behind.

Real gunicorn (``gunicorn app:app`` from the checkout), as a newcomer runs it; the temporary directory
is the test's own (TMPDIR), so whatever a failed start leaves there is seen.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gunicorn_helpers import ROOT, free_port

HIDE_REVIEW_EXTRA = 'import sys\nsys.modules["sqlalchemy"] = sys.modules["alembic"] = None\n'


def gunicorn(tmp_path: Path, *args: str, timeout: float = 60, **env: str) -> tuple[int, list[dict], float]:
    """Run ``gunicorn [args] app:app`` to its end: exit status, its JSON log lines, seconds taken."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    environ = {**os.environ, "TMPDIR": str(tmp), "NSFW_DATA_DIR": str(tmp_path / "data"), "NSFW_WORKERS": "2"}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", *args, "app:app"],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = (done.stdout + done.stderr).splitlines()
    assert all(line.startswith("{") for line in lines), lines  # no traceback, no stray text
    return done.returncode, [json.loads(line) for line in lines], time.monotonic() - started


def problems(records: list[dict]) -> list[str]:
    return [r["message"] for r in records if r["level"] in ("WARNING", "ERROR", "CRITICAL")]


def test_review_on_without_its_extra_stops_the_master_before_any_worker_boots(tmp_path):
    hidden = tmp_path / "hide"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text(HIDE_REVIEW_EXTRA)
    port = free_port()
    status, records, seconds = gunicorn(
        tmp_path, "-b", f"127.0.0.1:{port}", PYTHONPATH=str(hidden), NSFW_REVIEW="unknown"
    )
    assert status == 1
    (line,) = problems(records)
    assert line.startswith("not starting: NSFW_REVIEW=unknown needs") and "pip install '.[review]'" in line
    assert not any("Booting worker" in r["message"] for r in records)
    assert seconds < 10
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "data").exists()  # no empty database either


@pytest.mark.parametrize("host", ["127.0.0.1"])
def test_a_port_in_use_is_said_in_one_line_and_the_start_ends_at_once(tmp_path, host):
    with socket.socket() as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, records, seconds = gunicorn(tmp_path, "-b", f"{host}:{port}")
    assert status == 1
    (line,) = problems(records)
    assert line.startswith(f"not starting: port {port} is already in use on {host}")
    assert seconds < 5  # gunicorn alone retries five times, a second apart
    assert list((tmp_path / "tmp").iterdir()) == []  # the metrics directory is made only once bound
