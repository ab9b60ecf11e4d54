"""A slow Redis cannot throttle the service: few round trips, and slowness counted as an outage.

A real redis-server behind a loopback TCP proxy (bench/slow_redis.py's DelayingProxy) that holds
each answer as long as the test says and counts the commands that reach Redis.
"""

from __future__ import annotations

import logging
import time

import pytest
import redis_helpers
from helpers import IMAGES

from bench.slow_redis import DelayingProxy

redis_server = redis_helpers.redis_server
LIMITS = "100/hour;200/day"  # two limits: four round trips a request before


@pytest.fixture
def proxy(redis_server):
    with redis_server.client() as client:
        client.flushdb()
    proxy = DelayingProxy(("127.0.0.1", redis_server.port))
    yield proxy
    proxy.close()


def test_every_limit_of_a_request_is_one_round_trip(make_app, proxy):
    client = make_app(rate_limit=LIMITS, rate_limit_storage=proxy.url)
    assert client.get("/v1/models").status_code == 200  # the script is loaded on first use
    before = proxy.commands
    answers = [client.get("/v1/models") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["98", "97", "96", "95", "94"]
    assert proxy.commands - before == 5


def test_an_uncached_classification_is_three_round_trips(make_app, proxy):
    """The limits (one script), the shared cache's look-up, and its store after the work."""
    client = make_app(rate_limit=LIMITS, rate_limit_storage=proxy.url, cache_url=proxy.url)
    for name, expected in (("coffee_224x224.png", None), ("chelsea.png", 3)):  # the first opens the connections
        before = proxy.commands
        response = client.post("/predict", data=(IMAGES / name).read_bytes(), content_type="image/png")
        assert response.status_code == 200
        assert expected is None or proxy.commands - before == expected


def test_limits_in_a_redis_answering_in_400_ms_are_counted_in_memory_without_waiting(make_app, proxy, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw")
    client = make_app(rate_limit=LIMITS, rate_limit_storage=proxy.url)
    assert client.get("/v1/models").status_code == 200
    proxy.delay = 0.4
    started = time.monotonic()
    answers = [client.get("/v1/models") for _ in range(10)]
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 10
    assert [int(a.headers["RateLimit-Remaining"]) for a in answers][1:] == list(range(98, 89, -1))  # in memory
    assert elapsed < 3.0, elapsed  # one 0.15 s socket timeout, then Redis is left alone (it took 16 s)
    assert sum("rate limit storage is unreachable" in r.getMessage() for r in caplog.records) == 1


def test_failing_closed_a_redis_answering_in_400_ms_is_refused_at_once(make_app, proxy):
    client = make_app(rate_limit=LIMITS, rate_limit_storage=proxy.url, rate_limit_fail="closed")
    assert client.get("/v1/models").status_code == 200
    proxy.delay = 0.4
    started = time.monotonic()
    answers = [client.get("/v1/models") for _ in range(10)]
    assert time.monotonic() - started < 3.0  # it took 16 s
    assert {a.status_code for a in answers} == {503}
    assert {a.get_json()["error"]["code"] for a in answers} == {"rate_limit_unavailable"}


def test_answers_slower_than_100_ms_open_the_breaker_though_none_fails(make_app, proxy, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw")
    client = make_app(rate_limit=LIMITS, rate_limit_storage=proxy.url)
    assert client.get("/v1/models").status_code == 200
    proxy.delay = 0.11  # under the 0.15 s socket timeout: every call succeeds, slowly
    before = proxy.commands
    assert {client.get("/v1/models").status_code for _ in range(8)} == {200}
    # then counted in memory for the breaker's pause (on a loaded machine a reply may even time out first)
    assert 1 <= proxy.commands - before <= 3
    assert any("rate limit storage is unreachable" in r.getMessage() for r in caplog.records)


def test_a_slow_shared_cache_is_left_alone(make_app, proxy, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw")
    client = make_app(cache_url=proxy.url)
    proxy.delay = 0.4
    images = sorted(p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))[:5]
    started = time.monotonic()
    for image in images:
        response = client.post("/predict", data=image.read_bytes(), content_type="application/octet-stream")
        assert response.status_code == 200
    assert proxy.commands <= 3  # the connection's set-up and the first look-up, which timed out; then none
    assert time.monotonic() - started < 10.0  # classification, and one timeout (it took 0.8 s more per image)
    assert any("result cache: Redis at" in r.getMessage() for r in caplog.records)
