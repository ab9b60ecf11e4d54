"""A real redis-server for tests: started on a free loopback port, killed and restarted at will."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from gunicorn_helpers import free_port

MISSING = "redis-server is not installed: Debian's redis-server package (.ci/run installs it as root)"


class RedisServer:
    """One redis-server with no persistence; ``kill`` and ``start`` keep its port, as a restart would."""

    def __init__(self, directory: Path):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, timeout: float = 15) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory)]
        log = self.directory / "redis-server.log"  # a file, not a pipe nobody reads: it can never fill up
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                try:
                    if client.ping():
                        return
                except Exception:  # not listening yet
                    if self.proc.poll() is not None:
                        pytest.fail(f"redis-server exited: {log.read_text(errors='replace')}")
                    if time.monotonic() > deadline:
                        pytest.fail(f"redis-server did not answer in {timeout:g} s")
                    time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the outage an operator would not have announced."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def _serve(directory: Path):
    if shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists():
        pytest.skip(MISSING)
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A running redis-server for a test module (bind it there: ``redis_server = redis_helpers.redis_server``)."""
    yield from _serve(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def killable_redis(tmp_path):
    """A redis-server of the test's own, which it may kill and start again."""
    (tmp_path / "redis").mkdir()
    yield from _serve(tmp_path / "redis")
