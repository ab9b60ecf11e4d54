"""The result cache: remembered by content, least recently used out, identical work done once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from nsfw.cache import ResultCache


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
