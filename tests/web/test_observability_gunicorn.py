"""Metrics, logs and shutdown as deployed: a real gunicorn with the repo's gunicorn.conf.py.

* /metrics sums every worker (prometheus-client's multiprocess files), the directory is
  emptied at start, a dead worker's gauges leave the sums, and a temporary directory of our
  own is removed at exit;
* every line gunicorn and the app write is JSON (or text when asked), and no URL's query
  string reaches the log;
* SIGTERM lets a request in progress finish, and gunicorn exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import gunicorn_helpers
import pytest
import requests
from gunicorn_helpers import free_port, stop, wait_until_ready, worker_pids
from werkzeug import Response

ROOT = Path(__file__).resolve().parents[2]
PNG = (ROOT / "tests" / "data" / "images" / "chelsea.png").read_bytes()
pytestmark = pytest.mark.slow


def start(httpserver, tmp_path, **env):
    port = free_port()
    environ = dict(
        os.environ,
        PORT=str(port),
        WEB_CONCURRENCY="2",
        NSFW_THREADS="4",
        NSFW_FETCH_ALLOW_NETS="127.0.0.1/32",
        NSFW_FETCH_ALLOW_PORTS=f"80,443,{httpserver.port}",
        NSFW_TMP_DIR=str(tmp_path),
        **env,
    )
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = gunicorn_helpers.start(environ, port)
    return proc, proc.base_url


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in a text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


def scrape(base: str) -> str:
    response = requests.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return response.text


READY = {"route": "/ready", "method": "GET", "status": "200", "code": ""}


def test_metrics_sum_every_worker_and_forget_dead_workers_gauges(httpserver, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"stale, from a previous run")
    spool = tmp_path / "spool"
    spool.mkdir()
    proc, base = start(httpserver, spool, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    try:
        assert not (metrics_dir / "counter_99999.db").exists(), "the directory is emptied at start"
        before = metric(scrape(base), "nsfw_http_requests_total", **READY)
        for _ in range(40):  # a new connection each time: both workers serve some
            assert requests.get(f"{base}/ready", headers={"Connection": "close"}, timeout=10).status_code == 200
        text = scrape(base)
        assert metric(text, "nsfw_http_requests_total", **READY) == before + 40
        assert metric(text, "nsfw_inflight_requests") == 1  # the scrape itself, whichever worker answers
        assert 'nsfw_model_info{model="mobilenet_v2",runtime="litert",sha256="' in text

        # A worker dies: its counts stay in the sums, its gauges leave them.
        victim = max(worker_pids(proc.pid), key=lambda pid: (metrics_dir / f"gauge_livesum_{pid}.db").exists())
        assert (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (victim in worker_pids(proc.pid) or len(worker_pids(proc.pid)) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        wait_until_ready(proc, base)
        assert not (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        text = scrape(base)
        assert metric(text, "nsfw_http_requests_total", **READY) >= before + 40
        assert metric(text, "nsfw_inflight_requests") == 1
    finally:
        log = stop(proc)
    assert proc.returncode == 0, log


def test_a_temporary_metrics_directory_is_made_and_removed(httpserver, tmp_path):
    proc, base = start(httpserver, tmp_path)
    try:
        (made,) = tmp_path.glob("nsfw-metrics-*")  # under NSFW_TMP_DIR
        assert "nsfw_http_requests_total" in scrape(base)
        assert list(made.glob("*.db"))
    finally:
        log = stop(proc)
    assert proc.returncode == 0, log
    assert list(tmp_path.iterdir()) == []


def test_metrics_token_under_gunicorn(httpserver, tmp_path):
    proc, base = start(httpserver, tmp_path, NSFW_METRICS_TOKEN="t0ken")
    try:
        refused = requests.get(f"{base}/metrics", timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        allowed = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer t0ken"}, timeout=10)
        assert allowed.status_code == 200
    finally:
        log = stop(proc)
    assert proc.returncode == 0, log


# --- logs -------------------------------------------------------------------------------
def test_every_line_is_json_and_no_query_string_is_logged(httpserver, tmp_path):
    httpserver.expect_request("/cat.png").respond_with_data(PNG, content_type="image/png")
    url = httpserver.url_for("/cat.png") + "?signature=TOPSECRET"
    proc, base = start(httpserver, tmp_path)
    try:
        response = requests.post(f"{base}/predict", params={"url": url}, headers={"X-Request-ID": "req-7"}, timeout=15)
        assert response.status_code == 200 and response.headers["X-Request-ID"] == "req-7"
        health = requests.get(f"{base}/health", headers={"X-Request-ID": "hc-1"}, timeout=5)
        assert health.headers["X-Request-ID"] == "hc-1"  # answered by the worker's event loop
    finally:
        log = stop(proc)
    assert proc.returncode == 0, log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line parses
    assert "TOPSECRET" not in log
    assert any(line["message"].startswith("Starting gunicorn") for line in lines)
    (app_line,) = [line for line in lines if line["logger"] == "nsfw.request" and line["route"] == "/predict"]
    assert app_line["request_id"] == "req-7" and app_line["status"] == 200
    assert app_line["url"] == httpserver.url_for("/cat.png") and app_line["bytes_fetched"] == len(PNG)
    assert app_line["verdict"] and app_line["model"] == "mobilenet_v2" and "inference" in app_line["timings_ms"]
    assert app_line["remote_addr"] == "127.0.0.1" and app_line["user_agent"].startswith("python-requests")
    # one line per request: gunicorn's access log leaves the requests the app logged to the app
    assert not [line for line in lines if line["logger"] == "gunicorn.access" and line["path"] == "/predict"]


def test_text_logs_for_people(httpserver, tmp_path):
    proc, base = start(httpserver, tmp_path, NSFW_LOG_FORMAT="text")
    forged = "2026-01-01%2000:00:00,000%20INFO%20nsfw.request%20[x]%20FORGED"
    try:
        requests.get(f"{base}/ready", headers={"X-Request-ID": "txt-1"}, timeout=5)
        # a path that decodes to a newline, to the app (a 404) and to gunicorn's own access log (a 400)
        assert requests.get(f"{base}/x%0a{forged}", timeout=5).status_code == 404
        assert requests.get(f"{base}/x%0d%0a{forged}%1b[2J", timeout=5).status_code == 404
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as conn:
            conn.sendall(f"GET /x%0a{forged} HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n".encode())
            assert conn.recv(100).startswith(b"HTTP/1.1 400")
    finally:
        log = stop(proc)
    assert proc.returncode == 0, log
    assert "INFO gunicorn.error [None] Starting gunicorn" in log
    assert "INFO nsfw.request [txt-1] GET /ready 200" in log
    assert not log.lstrip().startswith("{")
    assert "FORGED" in log and not [line for line in log.splitlines() if line.startswith("2026-01-01")]
    assert "\x1b" not in log


# --- graceful shutdown ------------------------------------------------------------------
def not_served(base: str) -> bool:
    """A new connection gets no answer: refused, or left unaccepted in the backlog until the worker exits."""
    try:
        requests.get(f"{base}/health", timeout=2)
    except requests.RequestException:
        return True
    return False


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_sigterm_lets_a_request_in_progress_finish(httpserver, tmp_path):
    """The image server answers slowly; SIGTERM arrives while the worker waits for it."""
    arrived, release = threading.Event(), threading.Event()

    def slow(request):
        arrived.set()
        release.wait(10)
        return Response(PNG, content_type="image/png")

    httpserver.expect_request("/slow.png").respond_with_handler(slow)
    proc, base = start(httpserver, tmp_path)
    answer = {}

    def call():
        url = httpserver.url_for("/slow.png")
        answer["response"] = requests.post(f"{base}/predict", params={"url": url}, timeout=30)

    client = threading.Thread(target=call)
    client.start()
    try:
        assert arrived.wait(15), "the request never reached the image server"
        proc.send_signal(signal.SIGTERM)
        # gunicorn stops accepting: a new connection is not served while the request is in progress
        assert wait_for(lambda: not_served(base), 15), "still serving new connections after SIGTERM"
        assert proc.poll() is None and client.is_alive()
        release.set()
        client.join(30)
    finally:
        release.set()
        log = stop(proc)
    assert proc.returncode == 0, log
    response = answer["response"]
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"drawings", "hentai", "neutral", "porn", "sexy"}
