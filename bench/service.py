"""Start the service exactly as deployed (``gunicorn app:app`` from the repo root).

The repo's gunicorn.conf.py therefore applies unchanged: workers, threads,
timeouts, the access log. The harness only adds environment: the port, the
loopback allow-list for URL mode, ``NSFW_CACHE_SIZE=0`` (every request must do
real work) and a private XDG_RUNTIME_DIR so gunicorn's control socket does not
collide with another gunicorn on the machine. The master gets its own session
so a Ctrl-C in the terminal reaches the harness, which then stops it cleanly.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import procstats

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command() -> list[str]:
    """The venv's ``gunicorn`` script, as the Procfile runs it."""
    script = Path(sys.executable).parent / "gunicorn"
    if script.exists():
        return [str(script), "app:app"]
    found = shutil.which("gunicorn")
    return [found, "app:app"] if found else [sys.executable, "-m", "gunicorn", "app:app"]


class ServiceError(RuntimeError):
    pass


class Service:
    """One gunicorn master with its workers; ``stop()`` is safe to call on any path."""

    def __init__(self, workdir: Path, extra_env: dict[str, str]):
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        runtime = workdir / "run"
        runtime.mkdir(exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(extra_env)
        self.env.update(PORT=str(self.port), NSFW_CACHE_SIZE="0", XDG_RUNTIME_DIR=str(runtime))
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "wb")
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                gunicorn_command(),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from process start to the first ``GET /ready`` answered 200."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._ready_once():
                return time.perf_counter() - self.started
            time.sleep(0.005)
        raise ServiceError(f"gunicorn was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _ready_once(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/ready")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def wait_workers(self, count: int | None, timeout: float = 30.0) -> list[int]:
        """Worker pids once ``count`` of them (all of them if None) are alive."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if (pids and (count is None or len(pids) >= count)) or time.monotonic() > deadline:
                return pids
            time.sleep(0.05)

    def worker_pids(self) -> list[int]:
        return procstats.children(self.proc.pid) if self.proc else []

    def all_pids(self) -> list[int]:
        return [self.proc.pid, *self.worker_pids()] if self.proc else []

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful shutdown), then SIGKILL to its session if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        workers = procstats.children(proc.pid)
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            pass
        finally:
            # the master's session holds only what it started; kill whatever is left of it
            if proc.poll() is None or any(procstats.alive(pid) for pid in workers):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
