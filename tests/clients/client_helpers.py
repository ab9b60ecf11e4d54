"""A real service for the clients' tests: gunicorn from this checkout, on loopback.

At the default thresholds the model calls every image in tests/data/images safe, so the service
here runs with NSFW_ADULT_THRESHOLD=0.05 and NSFW_SAFE_THRESHOLD=0.02: then chelsea.png
(nsfw 0.068) is adult, camera_gray.png (0.030) unknown and coffee_224x224.png (0.0005) safe,
each with a margin, for every guard to be shown refusing, flagging and passing a real answer.
NSFW_MAX_BATCH=3 is below the clients' default batch (16), so they must learn the server's.

Not a conftest.py: the test modules here import the fixtures (a second module named ``conftest``
would shadow tests/conftest.py, which other tests import from). Each module that imports
``service`` gets its own fixture definition; they share one gunicorn, stopped after the last.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gunicorn_helpers
import pytest
from gunicorn_helpers import free_port, stop
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "data" / "images"
ADULT = IMAGES / "chelsea.png"
UNKNOWN = IMAGES / "camera_gray.png"
SAFE = IMAGES / "coffee_224x224.png"
MAX_BATCH = 3

pytestmark = pytest.mark.slow


def start(tmp: Path, httpserver: HTTPServer | None = None, **env: str) -> subprocess.Popen:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    environ.update(
        PORT=str(port),
        WEB_CONCURRENCY="1",
        NSFW_DECODERS="1",
        NSFW_TMP_DIR=str(tmp),
        NSFW_ADULT_THRESHOLD="0.05",
        NSFW_SAFE_THRESHOLD="0.02",
        NSFW_MAX_BATCH=str(MAX_BATCH),
    )
    environ.update(env)
    if httpserver is not None:  # image URLs the service may fetch: the test's own server only
        environ.update(NSFW_FETCH_ALLOW_NETS="127.0.0.1/32", NSFW_FETCH_ALLOW_PORTS=str(httpserver.port))
    return gunicorn_helpers.start(environ, port)


def finish(proc: subprocess.Popen, tmp: Path) -> None:
    log = stop(proc)
    proc.stdout.close()
    assert proc.returncode == 0, log
    assert list(tmp.iterdir()) == []  # nothing left behind


_shared: dict[str, Any] = {"users": 0}


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, make_httpserver: HTTPServer) -> Iterator[str]:
    """The base URL of a service open to anyone, that may fetch from the test's HTTP server."""
    if _shared["users"] == 0:
        _shared["tmp"] = tmp_path_factory.mktemp("service")
        _shared["proc"] = start(_shared["tmp"], make_httpserver)
    _shared["users"] += 1
    try:
        yield _shared["proc"].base_url
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            finish(_shared["proc"], _shared["tmp"])


@pytest.fixture
def image_server(httpserver: HTTPServer) -> HTTPServer:
    """The test's HTTP server serving the three images at /adult.png, /unknown.png and /safe.png."""
    for name, path in (("adult", ADULT), ("unknown", UNKNOWN), ("safe", SAFE)):
        httpserver.expect_request(f"/{name}.png").respond_with_data(path.read_bytes(), content_type="image/png")
    return httpserver


# The guards' cases, the same in every framework: (upload, unknown policy, allowed, flagged, decision code).
GUARD_CASES = [
    pytest.param(ADULT.read_bytes(), "allow", False, False, "nsfw_adult", id="adult-refused"),
    pytest.param(UNKNOWN.read_bytes(), "flag", True, True, "nsfw_unknown", id="unknown-flagged"),
    pytest.param(UNKNOWN.read_bytes(), "refuse", False, False, "nsfw_unknown", id="unknown-refused"),
    pytest.param(UNKNOWN.read_bytes(), "allow", True, False, "nsfw_unknown", id="unknown-allowed"),
    pytest.param(SAFE.read_bytes(), "refuse", True, False, "nsfw_safe", id="safe-allowed"),
    pytest.param(b"%PDF-1.4 not an image", "flag", False, False, "nsfw_unreadable", id="not-an-image-refused"),
]
# The service down: (fail mode, allowed, flagged).
DOWN_CASES = [pytest.param("open", True, True, id="fail-open"), pytest.param("closed", False, False, id="fail-closed")]


def nowhere() -> str:
    """A loopback address where nothing listens: the service is down."""
    return f"http://127.0.0.1:{free_port()}"
