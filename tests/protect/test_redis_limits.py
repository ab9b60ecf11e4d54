"""Limits counted in a real Redis: shared by apps, and what an outage does (NSFW_RATE_LIMIT_FAIL)."""

from __future__ import annotations

import logging
import time

import redis_helpers

redis_server = redis_helpers.redis_server
killable_redis = redis_helpers.killable_redis


def limit_keys(server) -> list:
    with server.client() as client:
        return client.keys("LIMITS*")


def test_two_apps_sharing_one_redis_count_together(make_app, redis_server):
    with redis_server.client() as client:
        client.flushdb()
    first, second = (make_app(rate_limit="4/hour", rate_limit_storage=redis_server.url) for _ in range(2))
    answers = [client.get("/v1/models").status_code for _ in range(2) for client in (first, second)]
    assert answers == [200] * 4
    assert first.get("/v1/models").status_code == 429
    assert second.get("/v1/models").status_code == 429
    assert limit_keys(redis_server)


def test_failing_open_an_outage_is_served_and_counted_in_memory_until_redis_is_back(make_app, killable_redis, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw.protect")
    client = make_app(rate_limit="100/hour", rate_limit_storage=killable_redis.url)
    assert client.get("/v1/models").status_code == 200
    killable_redis.kill()
    answers = [client.get("/v1/models") for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert [int(a.headers["RateLimit-Remaining"]) for a in answers] == list(range(99, 89, -1))  # in memory
    outage = [r for r in caplog.records if r.name.startswith("nsfw") and "unreachable" in r.getMessage()]
    assert len(outage) == 1

    killable_redis.start()  # empty, as a restarted Redis without persistence is
    deadline = time.monotonic() + 40
    while not (limit_keys(killable_redis) and any("answers again" in r.getMessage() for r in caplog.records)):
        assert time.monotonic() < deadline, "the limiter never went back to Redis"
        assert client.get("/v1/models").status_code == 200
        time.sleep(0.25)
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_failing_closed_an_outage_refuses_limited_requests_with_503(make_app, killable_redis, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw.protect")
    client = make_app(rate_limit="100/hour", rate_limit_storage=killable_redis.url, rate_limit_fail="closed")
    assert client.get("/v1/models").status_code == 200
    killable_redis.kill()
    for _ in range(3):
        refused = client.get("/v1/models")
        assert refused.status_code == 503
        assert refused.json["error"]["code"] == "rate_limit_unavailable"
        assert refused.headers["Retry-After"] == "1"
    assert client.get("/health").status_code == 200  # open routes are not limited, so never refused
    assert len([r for r in caplog.records if r.name.startswith("nsfw") and "unreachable" in r.getMessage()]) == 1

    killable_redis.start()
    # left alone for the breaker's pause (1 s after the first failure), then back at the first request
    time.sleep(1.1)
    assert client.get("/v1/models").status_code == 200
    assert any("answers again" in r.getMessage() for r in caplog.records)
