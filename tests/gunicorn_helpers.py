"""Starting and stopping a real gunicorn in tests: one set of helpers for every file that does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(proc: subprocess.Popen, base: str, timeout: float = 30) -> None:
    """Until ``base/ready`` answers 200; fails with gunicorn's output if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {proc.stdout.read().decode()}")
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not become ready in {timeout:g} s")


def review_environ(port: int, tmp_path: Path, **env: str) -> dict:
    """This process's environment without NSFW_* settings, plus a review-queue gunicorn of two workers on
    ``port`` with one decoder each and its own spool directory under ``tmp_path``; ``env`` on top."""
    spool = tmp_path / f"spool-{port}"
    spool.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    environ.update(
        PORT=str(port), WEB_CONCURRENCY="2", NSFW_DECODERS="1", NSFW_TMP_DIR=str(spool), NSFW_REVIEW="all", **env
    )
    return environ


def worker_pids(master: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


def start(env: dict, port: int, *args: str, timeout: float = 30) -> subprocess.Popen:
    """``gunicorn [args] app:app`` from the repo root with ``env`` (the whole environment), once its
    ``/ready`` answers on ``port``; ``proc.base_url`` is its address. Killed if it never gets ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args, "app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    proc.base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, proc.base_url, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def stop(proc: subprocess.Popen, timeout: float = 30) -> str:
    """SIGTERM, as a platform stops an instance; killed if it outstays ``timeout``. Its output."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.stdout.read().decode()
