"""A real PostgreSQL server for tests: a fresh cluster on a free loopback port, killed and restarted at will.

initdb and postgres refuse to run as root, and CI runs as root: then both run as the ``postgres``
system user (or ``nobody``) in a directory of their own outside pytest's (which is private to
root). The cluster trusts local connections and listens on 127.0.0.1 only; fsync is off, since
nothing in it needs to survive the machine.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from gunicorn_helpers import free_port

MISSING = "PostgreSQL is not installed: Debian's postgresql package (.ci/run installs it as root)"


def binaries() -> Path | None:
    """The newest installed server's bin directory (Debian keeps each major version apart)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def _run_as() -> str | None:
    """The unprivileged user to run the server as when this process is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("running as root and there is no postgres or nobody user to run PostgreSQL as")


class PostgresServer:
    """One cluster; ``kill`` and ``start`` keep its port and its data, as a restart would."""

    USER = "nsfw"

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.port = free_port()
        self.user = _run_as()
        self.directory = Path(tempfile.mkdtemp(prefix="nsfw-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.proc: subprocess.Popen | None = None
        self._names = itertools.count(1)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._as_user([str(bin_dir / "initdb"), "-D", str(self.data), "-U", self.USER, "--auth=trust", "-E", "UTF8"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """A new empty database of its own, so tests sharing the server never see each other's rows."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.USER, dbname="postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def _as_user(self, command: list[str]) -> None:
        result = subprocess.run(command, capture_output=True, text=True, user=self.user, cwd=self.directory)
        if result.returncode != 0:
            pytest.fail(f"{command[0]} failed: {result.stdout}{result.stderr}")

    def start(self, timeout: float = 30) -> None:
        import psycopg

        command = [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        command += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}"]
        # fsync off: a killed server loses nothing the OS holds; commits still reach the WAL before they return
        command += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        with open(self.log, "ab") as out:  # a file, not a pipe nobody reads
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, user=self.user)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=self.port, user=self.USER, dbname="postgres", connect_timeout=2
                ):
                    return
            except psycopg.OperationalError:  # not accepting connections yet
                if self.proc.poll() is not None:
                    pytest.fail(f"postgres exited: {self.log.read_text(errors='replace')}")
                if time.monotonic() > deadline:
                    pytest.fail(f"postgres did not answer in {timeout:g} s")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend: the outage nobody announced."""
        if self.proc is None:
            return
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        for pid in map(int, children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # gone, so a restart finds no shared memory still in use
        while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown would wait for clients: SIGTERM is "smart"; SIGINT "fast"
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _serve():
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip(MISSING)
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        server.remove()


@pytest.fixture(scope="module")
def postgres_server():
    """A running PostgreSQL for a test module (import it into the module, or a conftest, to use it)."""
    yield from _serve()


@pytest.fixture
def killable_postgres():
    """A PostgreSQL of the test's own, which it may kill and start again."""
    yield from _serve()
