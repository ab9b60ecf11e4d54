"""The service as deployed: real gunicorn with the repo's gunicorn.conf.py."""

from __future__ import annotations

import os
from pathlib import Path

import gunicorn_helpers
import pytest
import requests
from gunicorn_helpers import free_port, stop, worker_pids
from hostile_images import HOSTILE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def gunicorn_process(httpserver, tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        WEB_CONCURRENCY="2",
        NSFW_FETCH_ALLOW_NETS="127.0.0.1/32",
        NSFW_FETCH_ALLOW_PORTS=f"80,443,{httpserver.port}",
        NSFW_TMP_DIR=str(tmp_path),
    )
    proc = gunicorn_helpers.start(env, port)
    yield proc
    log = stop(proc)
    assert proc.returncode == 0, log
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def gunicorn_server(gunicorn_process):
    return gunicorn_process.base_url


@pytest.fixture
def gunicorn_master(gunicorn_process):
    return gunicorn_process.pid


def test_gunicorn_serves_health_ready_and_predict(gunicorn_server, httpserver):
    body = (ROOT / "tests" / "data" / "images" / "chelsea.png").read_bytes()
    httpserver.expect_request("/a.png").respond_with_data(body, content_type="image/png")

    assert requests.get(f"{gunicorn_server}/health", timeout=5).json() == {"status": "ok"}
    # every worker loads its model before accepting requests, so /ready is always 200 here
    for _ in range(4):
        assert requests.get(f"{gunicorn_server}/ready", timeout=5).status_code == 200
    response = requests.post(f"{gunicorn_server}/predict", params={"url": httpserver.url_for("/a.png")}, timeout=10)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"drawings", "hentai", "neutral", "porn", "sexy"}


def test_gunicorn_answers_bad_input_with_json_not_html(gunicorn_server):
    response = requests.post(f"{gunicorn_server}/predict", timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "missing_url"


def test_hostile_uploads_never_kill_a_worker(gunicorn_server, gunicorn_master):
    before = worker_pids(gunicorn_master)
    assert len(before) == 2
    for kind, (data, status, code) in sorted(HOSTILE.items()):
        response = requests.post(
            f"{gunicorn_server}/predict", data=data, headers={"Content-Type": "image/png"}, timeout=30
        )
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), kind
    ok = requests.post(
        f"{gunicorn_server}/predict",
        data=(ROOT / "tests" / "data" / "images" / "drawing_flat.png").read_bytes(),
        headers={"Content-Type": "image/png"},
        timeout=30,
    )
    assert ok.status_code == 200
    assert worker_pids(gunicorn_master) == before
