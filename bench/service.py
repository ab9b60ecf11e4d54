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

    ready_path = "/ready"

    def __init__(self, workdir: Path, extra_env: dict[str, str], root: Path | None = None):
        self.root = root or ROOT  # the checkout served
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        runtime = workdir / "run"
        runtime.mkdir(exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(extra_env)
        self.env.update(PORT=str(self.port), NSFW_CACHE_SIZE="0", XDG_RUNTIME_DIR=str(runtime))
        if self.root != ROOT:  # another checkout: its code first, and no bytecode written into it
            self.env.update(PYTHONPATH=os.pathsep.join(filter(None, (str(self.root), self.env.get("PYTHONPATH")))))
            self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def command(self) -> tuple[list[str], Path]:
        """(argv, working directory) of the gunicorn master."""
        return gunicorn_command(), self.root

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv, cwd = self.command()
        log = open(self.log_path, "wb")
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from process start to the first ``GET /ready`` (``ready_path``) answered 200."""
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
            conn.request("GET", self.ready_path)
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


class OriginalService(Service):
    """The original design (bench/original/app.py) under gunicorn, on a free loopback port.

    As the article runs it (``gunicorn --worker-tmp-dir /dev/shm app:app``: the
    default sync worker), with ``workers`` processes (the harness passes 2 x
    cores + 1, gunicorn's advice and the fastest count measured) and a 120 s
    worker timeout instead of 30 s, only so that a worker importing TensorFlow
    and building the model on a loaded 2-core machine is not killed before it
    serves. Started from bench/original
    so the repo's gunicorn.conf.py does not apply; gunicorn's environment
    settings (WEB_CONCURRENCY, GUNICORN_CMD_ARGS) are removed so only the flags
    here count. It has no SSRF checks: it is bound to 127.0.0.1 only.
    """

    ready_path = "/health"
    directory = ROOT / "bench" / "original"

    def __init__(self, workdir: Path, workers: int, extra_env: dict[str, str] | None = None):
        super().__init__(workdir, extra_env or {})
        self.workers = workers
        self.log_path = workdir / f"original-{self.port}.log"
        for name in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "PORT"):
            self.env.pop(name, None)
        self.env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banners, not its errors

    def command(self) -> tuple[list[str], Path]:
        script = gunicorn_command()[:-1]
        return [
            *script,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-tmp-dir",
            "/dev/shm",
            "--timeout",
            "120",
            "app:app",
        ], self.directory
