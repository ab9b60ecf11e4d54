"""Results remembered by image content, and identical work done once.

The key is the sha256 of the image bytes plus the model name, so the same
picture reached through different URLs is classified once. Concurrent
requests for the same key wait for the first one instead of repeating its
decode and inference. Failures are not remembered: the next request tries again.

By default the cache lives in each worker's memory; with NSFW_CACHE_URL it is shared by
every worker and instance through Redis (:class:`RedisCache`), which the service can lose
at any moment without failing a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TypeVar

from nsfw.breaker import Breaker

T = TypeVar("T")

log = logging.getLogger(__name__)


class ResultCache:
    """A thread-safe LRU with single-flight computation; ``size`` 0 turns both off."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._pending: dict = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Nothing to release; :class:`RedisCache` has a connection pool."""

    def get_or_compute(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> tuple[T, bool]:
        """``(value, cached)``: cached is True when the value was not computed for this call."""
        if self.size <= 0:
            return compute(), False
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key], True
            waiting = self._pending.get(key)
            if waiting is None:
                waiting = self._pending[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return waiting.result(), True
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            waiting.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        waiting.set_result(value)
        return value, False


# A Redis on the same network answers in well under a millisecond: a short timeout keeps a dead,
# unreachable or slow one from adding more than that to a request, and no retries (redis-py's
# default client retries with back-off of up to seconds) for the same reason. An answer slower
# than REDIS_SLOW_S counts against the breaker: three in a row and Redis is left alone as if down.
# The rate limiter's storage (nsfw.protect.limits) uses the same options and the same rule.
REDIS_TIMEOUT_S = 0.15
REDIS_SLOW_S = 0.1
REDIS_OPTIONS = {
    "socket_timeout": REDIS_TIMEOUT_S,
    "socket_connect_timeout": REDIS_TIMEOUT_S,
    "health_check_interval": 0,
}


def redis_client(url: str):
    """A redis-py client with the short timeouts and no retries of ``REDIS_OPTIONS``."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **REDIS_OPTIONS)


def redis_location(url: str) -> str:
    """host:port/db of a Redis URL for log lines: never its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.endswith("unix"):
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


class RedisCache:
    """Results shared by every worker and instance in one Redis, each kept ``ttl`` seconds.

    In front of Redis sits this process's own :class:`ResultCache` of ``size`` entries (its
    single-flight too): a hot image costs no round trip, and concurrent requests for the same
    image in one process do the work once. Values cross Redis as bytes through ``encode`` and
    ``decode`` (the pipeline's JSON), never pickle: whoever can write to that Redis must not
    be able to run code here.

    Redis is an optimisation, never a dependency: when it fails, the call goes on without it,
    behind a :class:`nsfw.breaker.Breaker` (one warning, then a growing pause before the next try).
    """

    PREFIX = "nsfw:result:v1:"

    def __init__(self, url: str, ttl: int, size: int, encode: Callable, decode: Callable, client=None):
        self.ttl = ttl
        self.size = size
        self.location = redis_location(url)
        self._local = ResultCache(size)
        self._encode, self._decode = encode, decode
        self._redis = client or redis_client(url)
        self.breaker = Breaker(
            "cache_redis",
            f"result cache: Redis at {self.location}",
            "classifying without the shared cache until it answers",
            "; results are shared again",
            slow_s=REDIS_SLOW_S,
        )

    def __len__(self) -> int:
        return len(self._local)

    def get_or_compute(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> tuple[T, bool]:
        name = self.PREFIX + ":".join(part.hex() if isinstance(part, bytes) else str(part) for part in key)
        shared = []

        def through_redis():
            raw = self._call(self._redis.get, name)
            if raw is not None:
                try:
                    value = self._decode(raw)
                except (ValueError, TypeError, KeyError):
                    log.warning("result cache: an unreadable entry in Redis was ignored")
                else:
                    shared.append(True)
                    return value
            value = compute()
            self._call(self._redis.set, name, self._encode(value), ex=self.ttl)
            return value

        value, cached = self._local.get_or_compute(key, through_redis)
        return value, cached or bool(shared)

    def close(self) -> None:
        self._redis.close()

    @property
    def available(self) -> bool:
        return not self.breaker.open

    def _call(self, method, *args, **kwargs):
        if self.breaker.open:
            return None
        started = time.monotonic()
        try:
            result = method(*args, **kwargs)
        except Exception as exc:  # redis-py's errors, and anything else a broken link raises
            self.breaker.failed(exc)
            return None
        self.breaker.succeeded(time.monotonic() - started)
        return result


def build(settings, encode: Callable, decode: Callable) -> ResultCache | RedisCache:
    """The cache NSFW_CACHE_SIZE, NSFW_CACHE_URL and NSFW_CACHE_TTL describe."""
    if settings.cache_url and settings.cache_size > 0:
        return RedisCache(settings.cache_url, settings.cache_ttl, settings.cache_size, encode, decode)
    return ResultCache(settings.cache_size)
