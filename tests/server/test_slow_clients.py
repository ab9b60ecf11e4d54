"""Slow and malformed clients against the real gunicorn, as deployed (one worker, default threads).

gunicorn is exposed directly on every documented deployment, so stalled
clients must not stop /health or anyone else, and gunicorn's own errors must
come back as the service's JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from gunicorn_helpers import free_port, stop, wait_until_ready, worker_pids

ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 1.5
# The worker checks deadlines on each wake-up of its poller, at least once a second.
SLACK = 2.0
pytestmark = pytest.mark.slow


@contextlib.contextmanager
def serving(spool, **extra_env):
    """gunicorn with the repo's config on a free port; on exit, the worker must have lived."""
    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        WEB_CONCURRENCY="1",
        NSFW_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        NSFW_BODY_TIMEOUT=str(BODY_TIMEOUT),
        NSFW_TMP_DIR=str(spool),
    )
    env.pop("NSFW_THREADS", None)
    env.update(extra_env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    worker_lived = False
    try:
        wait_until_ready(proc, base)
        proc.base_url, proc.port = base, port
        (worker,) = worker_pids(proc.pid)
        yield proc
        worker_lived = worker_pids(proc.pid) == {worker}
    finally:
        stopping = time.monotonic()
        log = stop(proc)
    assert proc.returncode == 0, log
    assert worker_lived, log
    # Nothing left counted as open: the worker does not sit out its 20 s graceful timeout.
    assert time.monotonic() - stopping < 10, log


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("spool")) as proc:
        yield proc


@contextlib.contextmanager
def connections(port: int, count: int, first_bytes: bytes):
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            s.sendall(first_bytes)
        yield socks
    finally:
        for s in socks:
            s.close()


def health_answers_fast(base: str, times: int = 5) -> None:
    for _ in range(times):
        start = time.monotonic()
        response = requests.get(f"{base}/health", timeout=1)
        assert response.status_code == 200
        assert time.monotonic() - start < 1


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict, bytes]:
    """One HTTP response from ``sock`` (bytes after it stay in ``buf``): status, headers, body."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {bytes(buf)!r}"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    buf[:] = rest[length:]
    return int(lines[0].split()[1]), headers, rest[:length]


def answered_then_closed(sock: socket.socket, deadline: float) -> tuple[int, dict, bytes] | None:
    """The error the server sends before closing (None if it just closes); fails if it keeps the socket."""
    sock.settimeout(max(deadline - time.monotonic(), 0.01))
    buf = bytearray()
    try:
        while chunk := sock.recv(65536):
            buf += chunk
    except TimeoutError:
        pytest.fail("the server kept a stalled connection open")
    except ConnectionResetError:
        pass
    if not buf:
        return None
    return read_response(sock, buf)


def assert_json_error(status: int, headers: dict, body: bytes, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


def test_half_sent_headers_neither_stop_health_nor_stay_open(server):
    with connections(server.port, 32, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") as stalled:
        sent = time.monotonic()
        health_answers_fast(server.base_url)
        for s in stalled:
            answer = answered_then_closed(s, sent + HEADER_TIMEOUT + SLACK)
            if answer is not None:
                assert_json_error(*answer, 408, "request_timeout")
        assert time.monotonic() - sent >= HEADER_TIMEOUT - 0.1
    health_answers_fast(server.base_url, 1)


def test_stalled_uploads_neither_stop_health_nor_stay_open(server):
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
    with connections(server.port, 8, head + b"\x89PNG") as stalled:
        sent = time.monotonic()
        health_answers_fast(server.base_url)
        for s in stalled:
            answer = answered_then_closed(s, sent + BODY_TIMEOUT + SLACK)
            assert answer is not None
            assert_json_error(*answer, 408, "request_timeout")


def test_an_upload_that_stalls_after_the_read_ahead_gets_a_json_408(server):
    # Past what the worker buffers itself, the body is read by the application: its
    # socket read times out too, and the answer is the same JSON 408.
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 3000000\r\n\r\n"
    with connections(server.port, 1, head + b"\0" * 1_200_000) as (s,):
        sent = time.monotonic()
        health_answers_fast(server.base_url, 2)
        answer = answered_then_closed(s, sent + BODY_TIMEOUT + SLACK)
        assert answer is not None
        assert_json_error(*answer, 408, "request_timeout")


def test_a_url_over_the_request_line_limit_is_a_json_414(server):
    response = requests.post(f"{server.base_url}/predict", params={"url": "http://x/" + "a" * 9000}, timeout=5)
    assert_json_error(response.status_code, dict(response.headers.lower_items()), response.content, 414, "uri_too_long")


@pytest.mark.parametrize(
    "request_bytes, status, code",
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "invalid_request"),
        (b"GET /health HTTP/1.1\nHost: x\n\n", 400, "invalid_request"),
        (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 400, "invalid_request"),
        (b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431, "header_too_large"),
        (b"GET /health HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431, "header_too_large"),
    ],
    ids=["header-line", "bare-lf", "version", "too-many-fields", "huge-head"],
)
def test_gunicorn_level_errors_are_json(server, request_bytes, status, code):
    with connections(server.port, 1, request_bytes) as (s,):
        answer = answered_then_closed(s, time.monotonic() + 5)
    assert answer is not None
    assert_json_error(*answer, status, code)


def test_keep_alive_and_pipelined_requests(server):
    with connections(server.port, 1, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2) as (s,):
        buf = bytearray()
        for _ in range(2):
            status, _, body = read_response(s, buf)
            assert (status, json.loads(body)) == (200, {"status": "ok"})
        # the same connection serves a third request, sent in two pieces
        s.sendall(b"GET /ready HTTP/1.1\r\nHo")
        time.sleep(0.05)
        s.sendall(b"st: x\r\n\r\n")
        assert read_response(s, buf)[0] == 200


def test_real_uploads_still_classify(server):
    image = (ROOT / "tests" / "data" / "images" / "chelsea.png").read_bytes()
    keys = {"drawings", "hentai", "neutral", "porn", "sexy"}
    with requests.Session() as session:
        raw = session.post(f"{server.base_url}/predict", data=image, headers={"Content-Type": "image/png"}, timeout=30)
        assert raw.status_code == 200, raw.text
        assert set(raw.json()) == keys
        form = session.post(f"{server.base_url}/predict", files={"image": ("c.png", image, "image/png")}, timeout=30)
        assert form.status_code == 200, form.text
        assert set(form.json()) == keys


def drip(sock: socket.socket, piece: bytes, every: float, until: float) -> None:
    while time.monotonic() < until:
        try:
            sock.sendall(piece)
        except OSError:
            return  # the server closed it
        time.sleep(every)


def test_an_upload_that_drips_is_cut_at_the_minimum_rate(server):
    """Never silent for NSFW_BODY_TIMEOUT, but far slower than 16 KiB/s: cut all the same."""
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
    with connections(server.port, 1, head + b"\x89PNG") as (s,):
        sent = time.monotonic()
        drip(s, b"\0" * 64, BODY_TIMEOUT / 3, sent + BODY_TIMEOUT + 0.5)
        answer = answered_then_closed(s, sent + BODY_TIMEOUT + SLACK + 1)
        assert answer is not None
        assert_json_error(*answer, 408, "request_timeout")


def test_health_is_answered_when_no_thread_is_free(tmp_path):
    """/health never queues behind work: with the worker's only thread held by an upload, it answers."""
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 3000000\r\n\r\n"
    with serving(tmp_path, NSFW_THREADS="1") as server:
        with connections(server.port, 1, head + b"\0" * 1_200_000) as (s,):
            time.sleep(0.3)  # past the read-ahead: the one pool thread now reads this body
            started = time.monotonic()
            for _ in range(5):
                drip(s, b"\0" * 64, 0, 0.0)
                s.sendall(b"\0" * 64)
                health_answers_fast(server.base_url, 1)
            assert time.monotonic() - started < 5
            with pytest.raises(requests.Timeout):  # anything else waits for the thread
                requests.get(f"{server.base_url}/ready", timeout=0.5)
