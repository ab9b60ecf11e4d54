"""Smoke test of the benchmark harness: `bench/run.py --quick` works end to end.

It starts the real service under gunicorn, drives it with wrk if wrk is on PATH
and with the Python load generator otherwise (a test never installs system
packages), and must leave nothing running behind it.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results.md"
IMAGES = ROOT / "tests" / "data" / "images"


@pytest.mark.slow
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


@pytest.fixture
def bench_modules(monkeypatch):
    """bench/ is a directory of scripts that import each other by bare name."""
    monkeypatch.syspath_prepend(str(BENCH))
    import load
    import static_server

    return load, static_server


def test_python_load_generator_gives_the_same_fields_as_wrk(bench_modules):
    load, static_server = bench_modules
    with static_server.StaticServer(IMAGES) as server:
        result = load.run(None, server.url("chelsea.png"), mode="get", connections=4, duration=30, quota=200)
        missing = load.run(None, server.url("missing.png"), mode="get", connections=1, duration=30, quota=5)
    assert result.requests >= 200
    assert result.seconds < 30, "the quota, not the duration, ends the run"
    assert result.errors == 0
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms
    assert result.rps > 0
    assert missing.non2xx == missing.requests >= 5


def test_python_load_generator_opens_a_new_connection_per_request_when_asked(bench_modules):
    load, static_server = bench_modules
    with static_server.StaticServer(IMAGES) as server:
        kept = load.run(None, server.url("chelsea.png"), mode="get", connections=2, duration=30, quota=20)
        kept_connections = server.connections
        fresh = load.run(None, server.url("chelsea.png"), mode="get", connections=2, duration=30, quota=20, close=True)
        fresh_connections = server.connections - kept_connections
    assert kept.errors == fresh.errors == 0
    assert kept_connections == 2
    assert fresh_connections >= fresh.requests >= 20


def test_python_load_generator_is_bounded_in_time(bench_modules):
    load, static_server = bench_modules
    with static_server.StaticServer(IMAGES) as server:
        started = time.monotonic()
        result = load.run(None, server.url("chelsea.png"), mode="get", connections=2, duration=0.5)
    assert time.monotonic() - started < 5
    assert result.requests > 0 and result.errors == 0


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://example.com/", "https://127.0.0.1/", "http://169.254.169.254/"]
)
def test_python_load_generator_targets_loopback_only(bench_modules, url):
    load, _ = bench_modules
    with pytest.raises(ValueError):
        load.run(None, url, mode="get", connections=1, duration=1)


def test_python_load_generator_reports_a_refused_connection_as_socket_errors(bench_modules):
    load, _ = bench_modules
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        result = load.run(None, f"http://127.0.0.1:{port}/", mode="get", connections=1, duration=0.3)
    assert result.requests == 0
    assert result.socket_errors > 0


# a system package manager's install command (Debian's two, dpkg, Fedora's, Alpine's)
PACKAGE_MANAGER = re.compile(r"\b(apt(-get)?\s+install|dpkg\s+-i|yum\s+install|dnf\s+install|apk\s+add)\b")


def test_the_benchmark_never_installs_system_packages():
    """wrk is optional; nothing under bench/ may call a system package manager."""
    for path in sorted(BENCH.iterdir()):
        if path.suffix in (".py", ".lua"):
            text = path.read_text()
            found = PACKAGE_MANAGER.search(text)
            assert found is None, f"{path.name} mentions {found.group(0)!r}"
