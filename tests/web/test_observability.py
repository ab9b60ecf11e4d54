"""Request ids, the request log line and the Prometheus metrics, in process (single-process metrics).

The same code runs under gunicorn with the metrics aggregated across workers; that is
tested with a real gunicorn in tests/web/test_observability_gunicorn.py.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time

import pytest
from flask import g
from helpers import IMAGES
from prometheus_client import REGISTRY

from nsfw import create_app
from nsfw.imaging.sandbox import DecoderPool
from nsfw.settings import Settings
from nsfw.web import current

PNG = (IMAGES / "chelsea.png").read_bytes()
HEX_ID = re.compile(r"[0-9a-f]{32}")


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def request_lines(caplog):
    caplog.set_level(logging.INFO, logger="nsfw.request")
    return lambda: [r for r in caplog.records if r.name == "nsfw.request"]


# --- request ids ----------------------------------------------------------------------
@pytest.mark.parametrize("given", ["abc-123", "trace:4bf92f35.00f067aa_0ba902b7", "x" * 128])
def test_a_safe_request_id_is_echoed(client, given):
    response = client.get("/ready", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, 'quote"d', "naïve", "a\tb", "<script>"])
def test_an_unsafe_request_id_is_replaced(client, given):
    response = client.get("/ready", headers={"X-Request-ID": given})
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


def test_every_error_body_carries_the_request_id(client):
    for response in (
        client.get("/nope", headers={"X-Request-ID": "err-1"}),
        client.put("/predict", headers={"X-Request-ID": "err-1"}),
        client.post("/predict", headers={"X-Request-ID": "err-1"}),
        client.post("/predict", query_string={"url": "http://10.0.0.1/a.png"}, headers={"X-Request-ID": "err-1"}),
    ):
        assert response.status_code >= 400
        assert response.get_json()["error"]["request_id"] == "err-1" == response.headers["X-Request-ID"]
    generated = client.get("/nope")
    assert generated.get_json()["error"]["request_id"] == generated.headers["X-Request-ID"]


# --- the request log line ---------------------------------------------------------------
def test_one_line_per_request_with_what_happened(client, request_lines):
    response = client.post("/predict", data=PNG, content_type="image/png", headers={"X-Request-ID": "log-1"})
    assert response.status_code == 200
    (line,) = request_lines()
    assert line.request_id == "log-1"
    assert (line.method, line.route, line.path, line.status, line.code) == ("POST", "/predict", "/predict", 200, None)
    assert line.model == "mobilenet_v2" and line.verdict in ("safe", "adult", "unknown")
    assert line.bytes_in == len(PNG) and line.images == 1 and line.bytes_fetched == 0
    assert {"decode", "preprocess", "inference", "queue"} <= set(line.timings_ms)
    assert line.duration_ms > 0 and line.client is None


def test_the_user_agent_is_logged_as_sent_cut_to_256_characters(client, request_lines):
    client.get("/health", headers={"User-Agent": "probe/1.0 (+ops)"})
    client.get("/health", headers={"User-Agent": "u" * 300})
    client.get("/health", environ_overrides={"HTTP_USER_AGENT": ""})
    assert [line.user_agent for line in request_lines()] == ["probe/1.0 (+ops)", "u" * 256, None]


def test_an_error_line_has_its_code(client, request_lines):
    client.post("/predict", query_string={"url": "ftp://example.com/a.png"})
    (line,) = request_lines()
    assert (line.status, line.code, line.route) == (400, "invalid_url", "/predict")


def test_urls_are_logged_without_query_or_credentials(settings, httpserver, request_lines):
    httpserver.expect_request("/cat.png").respond_with_data(PNG, content_type="image/png")
    url = httpserver.url_for("/cat.png") + "?token=s3cret#frag"
    for full in (False, True):
        app = create_app(settings.replace(log_full_urls=full))
        try:
            assert app.test_client().post("/predict", query_string={"url": url}).status_code == 200
        finally:
            current.detector(app).close()
    quiet, full = request_lines()
    assert quiet.url == httpserver.url_for("/cat.png") and "s3cret" not in json.dumps(quiet.__dict__, default=str)
    assert quiet.bytes_fetched == len(PNG)
    assert full.url == url


def test_a_batch_line_counts_images_and_verdicts(client, httpserver, request_lines):
    httpserver.expect_request("/cat.png").respond_with_data(PNG, content_type="image/png")
    urls = [httpserver.url_for("/cat.png?k=v")] * 2
    response = client.post("/v1/classify", json={"urls": urls})
    assert response.status_code == 200
    (line,) = request_lines()
    assert line.images == 2 and sum(line.verdicts.values()) == 2
    assert line.urls == [httpserver.url_for("/cat.png")] * 2
    assert line.bytes_fetched == 2 * len(PNG)
    client.post("/v1/classify", json={"images": [base64.b64encode(PNG).decode()] * 3})
    uploads = request_lines()[-1]
    assert uploads.images == 3 and uploads.urls is None and uploads.bytes_fetched == 0


def test_the_client_name_an_authenticating_hook_sets_is_logged(app, request_lines):
    app.before_request(lambda: setattr(g, "client_name", "acme"))
    app.test_client().get("/ready")
    (line,) = request_lines()
    assert line.client == "acme"


# --- metrics --------------------------------------------------------------------------
def test_requests_are_counted_under_their_url_rule(client):
    labels = {"route": "/predict", "method": "POST", "status": "200", "code": ""}
    before = sample("nsfw_http_requests_total", **labels)
    seconds = sample("nsfw_http_request_duration_seconds_count", route="/predict")
    client.post("/predict", data=PNG, content_type="image/png")
    assert sample("nsfw_http_requests_total", **labels) == before + 1
    assert sample("nsfw_http_request_duration_seconds_count", route="/predict") == seconds + 1


def test_label_values_stay_bounded(client):
    client.get("/no/such/path/12345")
    client.open("/predict", method="BREW")
    text = client.get("/metrics").get_data(as_text=True)
    assert "/no/such/path" not in text and "BREW" not in text
    assert sample("nsfw_http_requests_total", route="unmatched", method="GET", status="404", code="not_found") >= 1
    # a wrong method matches no rule either
    wrong = {"route": "unmatched", "method": "other", "status": "405", "code": "method_not_allowed"}
    assert sample("nsfw_http_requests_total", **wrong)


def classified() -> float:
    verdicts = ("adult", "safe", "unknown")
    return sum(sample("nsfw_classifications_total", model="mobilenet_v2", verdict=v) for v in verdicts)


def test_stages_verdicts_cache_and_downloads(client, httpserver):
    httpserver.expect_request("/cat.png").respond_with_data(PNG, content_type="image/png")
    stages = ("fetch", "queue", "decode", "preprocess", "inference")
    before = {s: sample("nsfw_stage_duration_seconds_count", stage=s, model="mobilenet_v2") for s in stages}
    fetched = sample("nsfw_fetch_bytes_total")
    hits, misses = sample("nsfw_cache_requests_total", result="hit"), sample("nsfw_cache_requests_total", result="miss")
    verdicts = classified()
    for _ in range(2):  # the second is a cache hit: only its download is timed
        assert client.post("/predict", query_string={"url": httpserver.url_for("/cat.png")}).status_code == 200
    after = {s: sample("nsfw_stage_duration_seconds_count", stage=s, model="mobilenet_v2") for s in stages}
    assert after["fetch"] == before["fetch"] + 2
    assert all(after[s] == before[s] + 1 for s in stages[1:])
    assert sample("nsfw_fetch_bytes_total") == fetched + 2 * len(PNG)
    assert sample("nsfw_cache_requests_total", result="hit") == hits + 1
    assert sample("nsfw_cache_requests_total", result="miss") == misses + 1
    assert classified() == verdicts + 2


def test_refusals_are_counted_by_reason(settings):
    app = create_app(settings.replace(max_request_bytes=1000))
    try:
        client = app.test_client()
        too_large, blocked = (
            sample("nsfw_rejected_total", reason="too_large"),
            sample("nsfw_rejected_total", reason="blocked_address"),
        )
        corrupt = sample("nsfw_rejected_total", reason="corrupt_image")
        assert client.post("/predict", data=PNG, content_type="image/png").status_code == 413
        assert client.post("/predict", query_string={"url": "http://169.254.169.254/x"}).status_code == 403
        assert client.post("/predict", data=b"\x89PNG\r\n\x1a\n", content_type="image/png").status_code == 422
    finally:
        current.detector(app).close()
    assert sample("nsfw_rejected_total", reason="too_large") == too_large + 1
    assert sample("nsfw_rejected_total", reason="blocked_address") == blocked + 1
    assert sample("nsfw_rejected_total", reason="corrupt_image") == corrupt == 0  # the caller's image, not a refusal


def test_inflight_returns_to_where_it_was(client):
    before = sample("nsfw_inflight_requests")
    during = client.get("/metrics").get_data(as_text=True)
    assert f"nsfw_inflight_requests {before + 1}" in during  # the scrape itself
    assert sample("nsfw_inflight_requests") == before


def test_model_info_names_the_served_models(client):
    client.get("/ready")
    client.get("/v1/models")  # loads the model
    text = client.get("/metrics").get_data(as_text=True)
    sha = client.get("/v1/models").get_json()["models"][0]["sha256"]
    assert f'nsfw_model_info{{model="mobilenet_v2",runtime="litert",sha256="{sha}"}} 1.0' in text


def test_the_decoder_queue_reports_its_depth():
    """The pool calls its hook as images start and stop waiting (no decoder process needed for the slots)."""
    depths = []
    pool = DecoderPool(Settings().replace(decoders=1, queue_depth=4), on_queue=depths.append)
    deadline = time.monotonic() + 30
    slot = pool._acquire(b"not an image", deadline)  # the one general decoder
    waiter = threading.Thread(target=lambda: pool._release(pool._acquire(b"not an image", deadline)))
    waiter.start()
    while not depths:
        time.sleep(0.01)
    assert pool.waiting() == 1
    pool._release(slot)
    waiter.join(10)
    assert depths == [1, 0] and pool.waiting() == 0


def test_metrics_can_require_a_bearer_token(settings):
    app = create_app(settings.replace(metrics_token="s3cret-token"))
    try:
        client = app.test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 401 and response.is_json
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert response.status_code == 200 and response.mimetype == "text/plain"
        assert "nsfw_http_requests_total" in response.get_data(as_text=True)
    finally:
        current.detector(app).close()


def test_openmetrics_when_the_scraper_asks(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.mimetype == "application/openmetrics-text"
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")
