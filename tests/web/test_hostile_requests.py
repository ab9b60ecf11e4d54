"""Hostile requests through the app: the right JSON error, quickly, and nothing leaks.

Real gunicorn runs these classes of attack in tests/server/test_gunicorn.py; here the
Flask app itself, with real decoder processes.
"""

from __future__ import annotations

import base64
import os
import threading
import time

import pytest
from helpers import IMAGES
from hostile_images import lossless_webp_bomb, scan_bomb_jpeg
from werkzeug.test import EnvironBuilder

from nsfw.web import current


@pytest.fixture
def settings(settings):
    return settings.replace(decode_cpu_s=1.0)


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_crash(client, depth):
    response = client.post("/v1/classify", data="[" * depth, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_scan_bomb_upload_is_422_image_too_complex_within_the_budget(client):
    started = time.monotonic()
    response = client.post("/predict", data=scan_bomb_jpeg(3000, 2048), content_type="image/jpeg")
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "image_too_complex"
    assert time.monotonic() - started < 5


def test_memory_bomb_upload_is_413_and_the_next_image_classifies(client):
    response = client.post("/predict", data=lossless_webp_bomb(7071), content_type="image/webp")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "image_too_large"
    ok = client.post("/predict", data=(IMAGES / "chelsea.png").read_bytes(), content_type="image/png")
    assert ok.status_code == 200


def test_a_batch_of_bombs_costs_each_item_its_budget_only(client):
    bomb = scan_bomb_jpeg(3000, 2048)
    started = time.monotonic()
    response = client.post("/v1/classify", json={"images": [base64.b64encode(bomb).decode()] * 4})
    assert response.status_code == 200
    codes = [item["error"]["code"] for item in response.get_json()["results"]]
    assert codes == ["image_too_complex"] * 4
    assert time.monotonic() - started < 10  # two decoders, four items of 1 s CPU each


def test_overload_is_503_with_retry_after(settings, spool_dir):
    from nsfw.web import create_app

    app = create_app(settings.replace(decoders=1, queue_depth=0, decode_cpu_s=3.0))
    try:
        client = app.test_client()
        bomb = scan_bomb_jpeg(800, 4096)  # too big for the express decoder; about 2 s of budget
        newcomer = scan_bomb_jpeg(1, 2560)
        busy = threading.Thread(
            target=client.post, args=("/predict",), kwargs={"data": bomb, "content_type": "image/jpeg"}
        )
        busy.start()
        time.sleep(0.5)  # the one general decoder is at work on the bomb
        started = time.monotonic()
        response = client.post("/predict", data=newcomer, content_type="image/jpeg")
        assert time.monotonic() - started < 0.5
        busy.join(10)
    finally:
        current.detector(app).close()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "overloaded"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("path", ["/health", "/nope", "/openapi.json", "/docs"])
def test_every_response_is_nosniff(client, path):
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_the_docs_page_may_not_be_framed_and_runs_only_its_own_scripts(client):
    response = client.get("/docs")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
    assert "'sha256-" in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def test_large_multipart_uploads_spool_in_the_configured_tmp_dir(app, spool_dir):
    environ = EnvironBuilder(method="POST", path="/predict").get_environ()
    request = app.request_class(environ)
    stream = request._get_file_stream(10**7, "image/png", "x.png")
    try:
        stream.write(b"x" * (1024 * 1024))  # past the in-memory part
        target = os.readlink(f"/proc/self/fd/{stream.fileno()}")
        assert target.startswith(str(spool_dir)), target
    finally:
        stream.close()
