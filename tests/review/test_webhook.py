"""The decision webhook: signed, retried with backoff when the receiver fails, held to the fetcher's policy.

Issue 21 item 3: deliveries carry a unique id, a per-item version assigned under the row lock and a
signed timestamp; they arrive per item in version order whichever process sends them; retries wait
from the failed attempt; the receiver of docs/review-trust.md (run here as printed) refuses replays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

import pytest
import review_helpers
from helpers import IMAGES
from review_helpers import bearer, sighting
from werkzeug import Response

from nsfw.fetch.fetcher import Fetcher
from nsfw.review import schema
from nsfw.review.store import ReviewStore
from nsfw.review.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Webhook,
    signature,
)
from nsfw.web import current

SECRET = "webhook-secret"
reviewers_file = review_helpers.reviewers_file


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'review.db'}"
    schema.upgrade(url)
    store = ReviewStore(schema.engine(url), webhook=True)
    yield store
    store.close()


@pytest.fixture
def webhook(store, settings, httpserver):
    fetcher = Fetcher(settings)  # the test settings allow 127.0.0.1 and the receiver's port
    yield Webhook(store, httpserver.url_for("/hook"), SECRET, fetcher, attempts=3, backoff=2.0)
    fetcher.close()


RECEIVER = review_helpers.receiver_example()


def verified(request) -> dict:
    body = request.get_data()
    timestamp = request.headers[TIMESTAMP_HEADER]
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)
    assert RECEIVER["authentic"](body, timestamp, request.headers[SIGNATURE_HEADER], SECRET)
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert request.headers[DELIVERY_HEADER] == payload["delivery"]
    return payload


def test_a_decision_arrives_signed_with_the_item_decision_reviewer_and_time(store, webhook, httpserver):
    store.record(sighting(1, "http://a.example/1.jpg"))
    store.decide(1, "adult", "ann")
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    assert webhook.deliver_due() == 1
    ((request, _),) = httpserver.log
    payload = verified(request)
    assert payload["event"] == "review.decision"
    assert (payload["decision"], payload["reviewer"]) == ("adult", "ann")
    assert payload["item"]["sha256"] == f"{1:064x}" and payload["item"]["id"] == 1
    assert dt.datetime.fromisoformat(payload["decided_at"]).tzinfo is not None
    assert store.outbox.pending() == 0
    assert webhook.deliver_due() == 0  # delivered once


def test_a_failing_receiver_is_retried_with_exponential_backoff(store, webhook, httpserver):
    store.record(sighting(1))
    store.decide(1, "safe", "ann")
    now = dt.datetime.now(dt.UTC)
    httpserver.expect_oneshot_request("/hook").respond_with_data("down", status=500)
    assert webhook.deliver_due(now) == 0
    assert store.outbox.pending() == 1
    assert webhook.deliver_due(now + dt.timedelta(seconds=1.9)) == 0  # not due yet: nothing sent
    assert len(httpserver.log) == 1
    httpserver.expect_oneshot_request("/hook").respond_with_data("still down", status=503)
    assert webhook.deliver_due(now + dt.timedelta(seconds=2.1)) == 0  # after 2 s: the second attempt
    assert webhook.deliver_due(now + dt.timedelta(seconds=5.9)) == 0  # then 4 s more
    httpserver.expect_oneshot_request("/hook").respond_with_data("ok")
    assert webhook.deliver_due(now + dt.timedelta(seconds=6.2)) == 1
    bodies = [request.get_data() for request, _ in httpserver.log]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same body (and delivery id) each time
    verified(httpserver.log[-1][0])
    assert store.outbox.pending() == 0
    assert [webhook.delay(n).total_seconds() for n in (1, 2, 3, 20)] == [2.0, 4.0, 8.0, 3600.0]


def test_a_delivery_is_dropped_after_its_last_attempt(store, webhook, httpserver, caplog):
    store.record(sighting(1))
    store.decide(1, "safe", "ann")
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    now = dt.datetime.now(dt.UTC)
    for hours in range(3):
        webhook.deliver_due(now + dt.timedelta(hours=hours))
    assert len(httpserver.log) == 3 and store.outbox.pending() == 0
    assert "dropped" in caplog.text


def test_a_receiver_on_a_private_address_is_refused_by_the_fetch_policy(store, settings, httpserver):
    # loopback is not public, and the image fetches' exemption is not the webhook's
    fetcher = Fetcher(settings.replace(webhook_allow_nets=()))
    webhook = Webhook(store, httpserver.url_for("/hook"), SECRET, fetcher, attempts=3)
    try:
        store.record(sighting(1))
        store.decide(1, "adult", "ann")
        assert webhook.deliver_due() == 0
        assert httpserver.log == [] and store.outbox.pending() == 1  # kept for a retry
    finally:
        fetcher.close()


def test_the_webhook_exemption_never_opens_its_network_to_image_urls(make_app, tmp_path, reviewers_file, httpserver):
    """A receiver allowed at 127.0.0.1:<port> gets its deliveries; clients' image URLs there are refused unsent."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    httpserver.expect_request("/admin.png").respond_with_data((IMAGES / "chelsea.png").read_bytes())
    client = make_app(
        fetch_allow_nets=(),
        fetch_allow_ports=frozenset({80, 443}),
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        review_webhook_url=httpserver.url_for("/hook"),
        review_webhook_secret=SECRET,
    )
    for path in ("/admin.png", "/hook"):
        url = httpserver.url_for(path)
        assert client.post("/predict", query_string={"url": url}).get_json()["error"]["code"] == "blocked_address"
        (result,) = client.post("/v1/classify", json={"url": url}).get_json()["results"]
        assert result["error"]["code"] == "blocked_address"
    # the same answer for a port that listens and ports that do not: no port scanning either
    probe = [f"http://127.0.0.1:{port}/" for port in (httpserver.port, 80, 443)]
    assert {client.post("/predict", query_string={"url": url}).get_json()["error"]["code"] for url in probe} == {
        "blocked_address"
    }
    assert httpserver.log == []  # nothing was sent to the receiver's host by a client
    client.post("/v1/classify", data=(IMAGES / "chelsea.png").read_bytes(), content_type="image/png")
    current.review_or_none(client.application).flush()
    assert (
        client.post("/v1/review/items/1/decision", json={"decision": "adult"}, headers=bearer("bob")).status_code == 200
    )
    deadline = time.monotonic() + 30
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [request.path for request, _ in httpserver.log] == ["/hook"]


def test_two_processes_sharing_the_outbox_send_a_delivery_once(store, webhook, httpserver):
    store.record(sighting(1))
    store.decide(1, "adult", "ann")
    now = dt.datetime.now(dt.UTC)
    claimed = store.outbox.claim(now, dt.timedelta(seconds=60))
    assert len(claimed) == 1
    assert webhook.deliver_due(now) == 0  # claimed by the other one: not sent here
    assert httpserver.log == []


def test_the_service_delivers_a_decision_made_through_the_api(make_app, tmp_path, reviewers_file, httpserver):
    received = []

    def handler(request):
        received.append(verified(request))
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    client = make_app(
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        review_webhook_url=httpserver.url_for("/hook"),
        review_webhook_secret=SECRET,
    )
    client.post("/v1/classify", data=(IMAGES / "chelsea.png").read_bytes(), content_type="image/png")
    current.review_or_none(client.application).flush()
    response = client.post("/v1/review/items/1/decision", json={"decision": "adult"}, headers=bearer("bob"))
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(r["decision"], r["reviewer"]) for r in received] == [("adult", "bob")]


def test_signature_is_the_hmac_of_the_timestamp_and_the_raw_body():
    assert signature("k", b"{}", 1700000000) == "sha256=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
