"""The result cache: remembered by content, least recently used out, identical work done once."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis_helpers
from prometheus_client import REGISTRY

from nsfw.cache import RedisCache, ResultCache

redis_server = redis_helpers.redis_server  # a real redis-server for this module
killable_redis = redis_helpers.killable_redis


def test_second_call_is_served_from_the_cache():
    cache = ResultCache(10)
    assert cache.get_or_compute("k", lambda: 1) == (1, False)
    assert cache.get_or_compute("k", lambda: 2) == (1, True)


def test_least_recently_used_entry_is_evicted():
    cache = ResultCache(2)
    cache.get_or_compute("a", lambda: "A")
    cache.get_or_compute("b", lambda: "B")
    cache.get_or_compute("a", lambda: "A2")  # touch a: b is now the oldest
    cache.get_or_compute("c", lambda: "C")
    assert len(cache) == 2
    assert cache.get_or_compute("a", lambda: "A3") == ("A", True)
    assert cache.get_or_compute("b", lambda: "B2") == ("B2", False)


def test_concurrent_identical_requests_compute_once():
    cache = ResultCache(10)
    calls = []
    gate = threading.Event()

    def slow():
        calls.append(1)
        gate.wait(5)
        return "value"

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get_or_compute, "k", slow) for _ in range(8)]
        time.sleep(0.2)
        gate.set()
        outcomes = [f.result(timeout=5) for f in futures]
    assert len(calls) == 1
    assert sorted(cached for _, cached in outcomes) == [False] + [True] * 7
    assert {value for value, _ in outcomes} == {"value"}


def test_failures_are_shared_with_waiters_but_not_remembered():
    cache = ResultCache(10)

    def boom():
        raise ValueError("bad image")

    with pytest.raises(ValueError):
        cache.get_or_compute("k", boom)
    assert cache.get_or_compute("k", lambda: "ok") == ("ok", False)


def test_size_zero_remembers_nothing_and_merges_nothing():
    cache = ResultCache(0)
    calls = []
    for _ in range(3):
        assert cache.get_or_compute("k", lambda: calls.append(1) or len(calls)) == (len(calls), False)
    assert len(calls) == 3 and len(cache) == 0


# -- the shared cache in a real Redis (NSFW_CACHE_URL) ------------------------------------


def as_bytes(value) -> bytes:
    return json.dumps(value).encode()


def shared(redis_url: str, size: int = 10, ttl: int = 60) -> RedisCache:
    return RedisCache(redis_url, ttl, size, as_bytes, json.loads)


def test_a_result_computed_by_one_instance_is_served_to_another(redis_server):
    first, second = shared(redis_server.url), shared(redis_server.url)
    try:
        key = (b"\x01" * 32, "mobilenet_v2")
        assert first.get_or_compute(key, lambda: {"porn": 0.1}) == ({"porn": 0.1}, False)
        assert second.get_or_compute(key, lambda: pytest.fail("computed twice")) == ({"porn": 0.1}, True)
        with redis_server.client() as client:
            (name,) = client.keys("nsfw:result:*")
            assert name.decode() == "nsfw:result:v1:" + "01" * 32 + ":mobilenet_v2"
            assert 0 < client.ttl(name) <= 60  # entries expire (NSFW_CACHE_TTL)
    finally:
        first.close()
        second.close()


def test_an_unreadable_entry_is_recomputed_not_served(redis_server):
    cache = shared(redis_server.url)
    try:
        with redis_server.client() as client:
            client.set("nsfw:result:v1:junk", b"\xff not json")
        assert cache.get_or_compute(("junk",), lambda: [1]) == ([1], False)
    finally:
        cache.close()


def test_a_redis_outage_costs_no_call_and_is_logged_once(killable_redis, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw.cache")
    server = killable_redis
    cache = shared(server.url, size=1)
    try:
        assert cache.get_or_compute(("a",), lambda: "A") == ("A", False)
        assert up() == 1
        server.kill()
        outcomes = [cache.get_or_compute((f"k{i}",), lambda i=i: i) for i in range(20)]
        assert outcomes == [(i, False) for i in range(20)]  # every call answered, none failed
        down = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert len(down) == 1 and f"127.0.0.1:{server.port}" in down[0]
        assert up() == 0  # what the NsfwRedisDown alert watches
        server.start()  # back, empty: the next attempt after the pause finds it
        deadline = time.monotonic() + 40
        while not server.client().keys("nsfw:result:*"):
            assert time.monotonic() < deadline, "the cache never went back to Redis"
            cache.get_or_compute((f"new{time.monotonic()}",), lambda: "v")
            time.sleep(0.2)
        assert any("answers again" in r.getMessage() for r in caplog.records)
        assert up() == 1
    finally:
        cache.close()


def up() -> float | None:
    return REGISTRY.get_sample_value("nsfw_dependency_up", {"dependency": "cache_redis"})


def test_without_a_url_the_cache_is_the_in_memory_one():
    from nsfw.cache import build
    from nsfw.settings import Settings

    assert type(build(Settings(), as_bytes, json.loads)) is ResultCache
    assert type(build(Settings(cache_url="redis://127.0.0.1:1/0", cache_size=0), as_bytes, json.loads)) is ResultCache
