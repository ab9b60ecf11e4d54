"""Issue 21 item 3: webhook deliveries a receiver can order and trust, on SQLite and a real PostgreSQL.

Real receivers (pytest-httpserver) running the receiver docs/review-trust.md prints.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import review_helpers
from review_helpers import database_url, postgres_server, sighting, store  # noqa: F401
from sqlalchemy import select
from werkzeug import Response

from nsfw.fetch.fetcher import Fetcher
from nsfw.review import schema
from nsfw.review.store import ReviewStore
from nsfw.review.tables import OUTBOX
from nsfw.review.webhook import ATTEMPT_S, CLAIM, LEASE, MARGIN_S, SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook

SECRET = "webhook-secret"
RECEIVER = review_helpers.receiver_example()


@pytest.fixture
def hook(store, settings, httpserver):  # noqa: F811
    fetcher = Fetcher(settings)  # the test settings allow 127.0.0.1 and the receiver's port
    yield Webhook(store, httpserver.url_for("/hook"), SECRET, fetcher, attempts=5, backoff=2.0)
    fetcher.close()


def receiving(httpserver, fail_first: int = 0, delay: float = 0.0) -> tuple[list, object]:
    """Serve /hook with the docs' Receiver; the first ``fail_first`` posts answer 500. (payloads, receiver)"""
    receiver = RECEIVER["Receiver"](SECRET)
    payloads: list = []

    def handler(request):
        time.sleep(delay)
        payloads.append(json.loads(request.get_data()))
        if len(payloads) <= fail_first:
            return Response("down", status=500)
        return Response("ok", status=receiver.receive(request.headers, request.get_data()))

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    return payloads, receiver


def test_each_delivery_has_a_unique_id_and_the_items_versions_in_commit_order(store, hook, httpserver):  # noqa: F811
    payloads, receiver = receiving(httpserver)
    store.record(sighting(1))
    store.record(sighting(2))
    for decision, reviewer in (("adult", "ann"), ("safe", "bob"), (None, "bob"), ("adult", "ann")):
        store.undecide(1, reviewer) if decision is None else store.decide(1, decision, reviewer)
    store.decide(2, "safe", "ann")
    while hook.deliver_due():
        pass
    ones = [p for p in payloads if p["item"]["id"] == 1]
    assert [p["item"]["version"] for p in ones] == [1, 2, 3, 4]
    assert [p["decision"] for p in ones] == ["adult", "safe", None, "adult"]
    assert len({p["delivery"] for p in payloads}) == len(payloads) == 5
    assert receiver.decisions[f"{1:064x}"] == (4, "adult") and receiver.decisions[f"{2:064x}"] == (1, "safe")
    assert store.get(1).version == 4


def test_a_failing_receiver_holds_back_the_items_later_decisions_never_reorders_them(store, hook, httpserver):  # noqa: F811
    payloads, receiver = receiving(httpserver, fail_first=1)
    store.record(sighting(1))
    store.decide(1, "adult", "ann")
    store.decide(1, "safe", "bob")
    now = dt.datetime.now(dt.UTC)
    assert hook.deliver_due(now) == 0  # version 1 failed; version 2 is not sent before it
    assert [p["item"]["version"] for p in payloads] == [1]
    assert hook.deliver_due(now + dt.timedelta(seconds=1)) == 0 and len(payloads) == 1
    assert hook.deliver_due(now + dt.timedelta(seconds=3)) == 1  # version 1 again, then 2 in the next round
    assert hook.deliver_due(now + dt.timedelta(seconds=3)) == 1
    assert [p["item"]["version"] for p in payloads] == [1, 1, 2]
    assert receiver.decisions[f"{1:064x}"] == (2, "safe")


def test_another_process_can_claim_only_an_items_oldest_delivery(store):  # noqa: F811
    store.record(sighting(1))
    store.record(sighting(2))
    store.decide(1, "adult", "ann")
    store.decide(1, "safe", "ann")
    store.decide(2, "safe", "ann")
    now = dt.datetime.now(dt.UTC)
    first = store.outbox.claim(now, LEASE)
    assert [json.loads(body)["item"]["id"] for _, body, _ in first] == [1, 2]  # not item 1's version 2
    assert store.outbox.claim(now, LEASE) == []  # the other worker: item 1's version 2 waits for version 1
    store.outbox.done(first[0][0])
    (second,) = store.outbox.claim(now, LEASE)
    assert json.loads(second[1])["item"]["version"] == 2


def test_a_replayed_delivery_fails_authentic_once_it_is_stale(store, hook, httpserver):  # noqa: F811
    store.record(sighting(1))
    store.decide(1, "adult", "ann")
    httpserver.expect_oneshot_request("/hook").respond_with_data("ok")
    assert hook.deliver_due() == 1
    ((request, _),) = httpserver.log
    body, stamp, sig = request.get_data(), request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
    authentic = RECEIVER["authentic"]
    assert authentic(body, stamp, sig, SECRET)
    assert not authentic(body, stamp, sig, SECRET, now=int(stamp) + RECEIVER["FRESH_S"] + 1)  # replayed later
    later = int(stamp) + 60
    assert not authentic(body, str(later), sig, SECRET, now=later)  # a fresh timestamp on the old signature
    assert not authentic(body.replace(b"adult", b"safe"), stamp, sig, SECRET)
    assert not authentic(body, "", sig, SECRET) and not authentic(body, "1e9", sig, SECRET)


def test_a_retry_waits_its_backoff_from_the_failed_attempt_not_from_the_round(store, hook, httpserver):  # noqa: F811
    receiving(httpserver, fail_first=2, delay=1.0)  # each attempt takes 1 s, the first two fail
    store.record(sighting(1))
    store.record(sighting(2))
    store.decide(1, "adult", "ann")
    store.decide(2, "adult", "ann")
    now = dt.datetime.now(dt.UTC)
    assert hook.deliver_due(now) == 0
    with store.engine.connect() as conn:
        due = dict(conn.execute(select(OUTBOX.c.item_id, OUTBOX.c.next_attempt_at)).all())
    # item 2's attempt failed about 2 s into the round: due 2 s (backoff) after that, not at now + 2 s
    assert due[2] - now >= dt.timedelta(seconds=3.9)
    assert dt.timedelta(seconds=2.9) <= due[1] - now < due[2] - now


def test_a_claim_outlasts_every_attempt_its_holder_may_start():
    assert CLAIM * ATTEMPT_S + MARGIN_S <= LEASE.total_seconds()


def test_concurrent_decisions_on_postgresql_get_distinct_versions_and_times_in_commit_order(postgres_server):  # noqa: F811
    """Eight processes' worth of stores deciding one item at once: versions 1..n, decided_at following them."""
    url = postgres_server.fresh_url()
    schema.upgrade(url)
    stores = [ReviewStore(schema.engine(url), webhook=True) for _ in range(8)]
    try:
        stores[0].record(sighting(1))
        start = threading.Barrier(len(stores))

        def decide(store: ReviewStore, n: int) -> None:  # noqa: F811
            start.wait()
            for k in range(5):
                store.decide(1, ("adult", "safe")[(n + k) % 2], f"r{n}")

        threads = [threading.Thread(target=decide, args=(s, n)) for n, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with stores[0].engine.connect() as conn:
            bodies = [json.loads(b) for (b,) in conn.execute(select(OUTBOX.c.body).order_by(OUTBOX.c.id))]
        versions = [b["item"]["version"] for b in bodies]
        assert versions == list(range(1, 41))  # outbox order is version order
        times = [b["decided_at"] for b in bodies]
        assert times == sorted(times)
        assert stores[0].get(1).version == 40
    finally:
        for s in stores:
            s.close()


def test_the_sender_wakes_for_the_held_back_items_retry_not_for_its_later_decisions(store, hook, httpserver):  # noqa: F811
    receiving(httpserver, fail_first=1)
    store.record(sighting(1))
    store.decide(1, "adult", "ann")
    store.decide(1, "safe", "ann")  # due now, but held back behind version 1
    now = dt.datetime.now(dt.UTC)
    hook.deliver_due(now)
    due = store.outbox.next_due()
    assert due - now >= dt.timedelta(seconds=1.9)  # version 1's retry, not version 2's creation (a busy loop)
