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
    environ = {**os.environ, "TMPDIR": str(tmp), "NSFW_DATA_DIR": str(tmp_path / "data"), "WEB_CONCURRENCY": "2"}
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


def test_a_keras_model_without_tensorflow_stops_the_master_too(tmp_path):
    hidden = tmp_path / "hide"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text('import sys\nsys.modules["tensorflow"] = None\n')
    (tmp_path / "mine.keras").write_bytes(b"a model")
    env = {"PYTHONPATH": str(hidden), "NSFW_MODELS": "custom", "NSFW_MODEL_PATH": str(tmp_path / "mine.keras")}
    status, records, _ = gunicorn(tmp_path, "-b", f"127.0.0.1:{free_port()}", **env)
    assert status == 1
    (line,) = problems(records)
    assert line.startswith("not starting: NSFW_MODEL_PATH names a Keras") and "pip install '.[tensorflow]'" in line
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{free_port()}", "app:app"],
        cwd=ROOT,
        env={**os.environ, "NSFW_REVIEW": "sometimes", "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "not starting: NSFW_REVIEW='sometimes' must be off, unknown or all\n"
    assert list(tmp_path.iterdir()) == []


def test_a_configuration_the_app_refuses_ends_the_workers_without_a_traceback(tmp_path):
    """Checked only where the app is built (here a reviewers file holding a pasted token): each worker
    says it in one line, and gunicorn stops instead of booting workers again and again. One worker:
    when two fail at the same instant, gunicorn 27's halt meets the second exit while stopping and
    prints a traceback of its own (HaltServer raised again), still exiting non-zero."""
    (tmp_path / "reviewers").write_text("ann:the-token-itself\n")
    env = {"NSFW_REVIEW": "unknown", "NSFW_REVIEWERS_FILE": str(tmp_path / "reviewers")}
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{free_port()}", "app:app"],
        cwd=ROOT,
        env={**os.environ, **env, "TMPDIR": str(tmp), "NSFW_DATA_DIR": str(tmp_path / "data"), "WEB_CONCURRENCY": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 4  # gunicorn's "App failed to load"
    assert "Traceback" not in output and "the-token-itself" not in output
    (refusal,) = [line for line in output.splitlines() if line.startswith("not starting: ")]
    assert "NSFW_REVIEWERS_FILE" in refusal and "line 1" in refusal
    assert list(tmp.iterdir()) == []


def test_workers_that_all_refuse_at_once_leave_nothing_behind(tmp_path):
    """Two workers failing together can make gunicorn's halt fail (see above): the master still exits
    non-zero, and its metrics directory is still removed."""
    (tmp_path / "reviewers").write_text("ann:the-token-itself\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"NSFW_REVIEW": "unknown", "NSFW_REVIEWERS_FILE": str(tmp_path / "reviewers"), "WEB_CONCURRENCY": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{free_port()}", "app:app"],
        cwd=ROOT,
        env={**os.environ, **env, "TMPDIR": str(tmp), "NSFW_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert list(tmp.iterdir()) == []


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
