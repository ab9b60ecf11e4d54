"""Every runnable example of README.md and docs/*.md runs, and prints what the page shows.

The examples run in page order (Getting started first: it starts the servers the others use) from
a scratch directory that looks like a clone (``tests``, ``nsfw``, ``model``... linked in, ``.venv``
the running interpreter's), so the files they write go there and vanish with it. The page's ports
are replaced: 8080 by a free port for the service, 8000 by another for the image server. Servers
are the pages' own commands (``<!-- runnable: serve -->``), stopped at the end. See doc_examples.py
for the marks and how output is compared.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from doc_examples import Example, examples, same_output
from gunicorn_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
LINKED = ("tests", "nsfw", "model", "docs", "bench", "app.py", "gunicorn.conf.py", "pyproject.toml")
LINKED += ("requirements.txt", "requirements-dev.txt")
FIRST = ("docs/getting-started.md", "README.md")  # the pages that start the servers the others use
TIMEOUT = 180
SEPARATOR = "@@ next example command @@"


def _pages() -> list[str]:
    nav = re.findall(r":\s*(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    pages = [*FIRST, *(f"docs/{n}" for n in nav), *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]
    return [p for p in dict.fromkeys(pages) if (ROOT / p).is_file()]


EXAMPLES: list[Example] = [e for page in _pages() for e in examples(ROOT / page, page)]


class Session:
    """The scratch clone, the ports, and the servers the examples started."""

    def __init__(self, scratch: Path):
        self.cwd = scratch
        self.ports = {"8080": str(free_port()), "8000": str(free_port())}
        self.servers: dict[str, subprocess.Popen] = {}
        for name in LINKED:
            (scratch / name).symlink_to(ROOT / name)
        (scratch / ".venv").symlink_to(Path(sys.prefix))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("NSFW_", "PORT", "WEB_CONCURRENCY"))}
        self.env.update(WEB_CONCURRENCY="1", NSFW_DECODERS="1", NO_COLOR="1", COLUMNS="80")

    def ported(self, text: str) -> str:
        return re.sub(r"\b(8080|8000)\b", lambda m: self.ports[m.group(1)], text)

    def run(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", self.ported(command)],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def run_block(self, commands: list[str]) -> tuple[list[str], subprocess.CompletedProcess]:
        """The commands of one block in one shell (so a variable set by one is there for the next);
        what each printed on stdout, up to the one that failed."""
        script = "".join(f"printf '\\n{SEPARATOR}\\n'\n{command}\n" for command in commands)
        done = self.run(script)
        return re.split(rf"\n?{SEPARATOR}\n", done.stdout)[1:], done

    def serve(self, command: str) -> None:
        if "gunicorn" in command and " -b " not in command:
            command = command.replace(" app:app", " -b 127.0.0.1:8080 app:app")  # loopback only, in tests
        port = next(p for p in ("8080", "8000") if re.search(rf"\b{p}\b", command))
        self.stop(port)
        proc = subprocess.Popen(
            ["bash", "-c", "exec env " + self.ported(command)],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.servers[port] = proc
        self._wait(proc, int(self.ports[port]), gunicorn="gunicorn" in command)

    def _wait(self, proc: subprocess.Popen, port: int, gunicorn: bool) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {proc.stderr.read().decode()[-3000:]}")
            try:
                if gunicorn:
                    if requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                        return
                else:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return
            except (OSError, requests.RequestException):
                pass
            time.sleep(0.2)
        pytest.fail("the server did not get ready in 60 s")

    def stop(self, port: str) -> None:
        proc = self.servers.pop(port, None)
        if proc is None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    session = Session(tmp_path_factory.mktemp("clone"))
    yield session
    for port in list(session.servers):
        session.stop(port)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example(example: Example, session: Session):
    if example.kind == "serve":
        session.serve(example.commands[0][0])
        return
    outputs, done = session.run_block([command for command, _ in example.commands])
    for (command, expected), printed in zip(example.commands, outputs, strict=False):
        if expected.strip():
            want = session.ported(expected)
            assert same_output(want, printed), f"{example.id}: {command!r}\nshown:\n{want}\nprinted:\n{printed}"
    assert done.returncode == 0, f"{example.id}: exited {done.returncode} after {len(outputs)} commands:\n{done.stderr}"


def test_there_are_examples_on_the_pages_that_promise_them():
    pages = {e.page for e in EXAMPLES}
    assert {"README.md", "docs/getting-started.md", "docs/api.md", "docs/review.md", "docs/cli.md"} <= pages
