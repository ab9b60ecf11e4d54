"""Rate limits in images, per API key or per client address, with Flask-Limiter.

One application-wide limit (NSFW_RATE_LIMIT, e.g. ``600/minute;20/second``) is shared by every
protected route, and a request spends as many units as it has classified: an image is one, a
video NSFW_VIDEO_FRAMES (see :class:`nsfw.protect.costs.ImageCounter`), and a 16-item batch under any multipart
field names spends at least 16. The count is taken before any work, from what the request already
holds (the JSON list, the multipart files, the first bytes of each), never by downloading or
decoding anything; only a URL that turns out to be a video spends its rest afterwards
(:mod:`nsfw.protect.costs`).

Counters live in NSFW_RATE_LIMIT_STORAGE: ``memory://`` (each worker process counts alone)
or Redis (every worker and instance counts together). When that Redis does not answer,
NSFW_RATE_LIMIT_FAIL decides: ``open`` (the default) keeps serving, each process counting in
its own memory until Redis answers again (Flask-Limiter checks it at growing intervals, up to
about 30 s); ``closed`` refuses limited requests with 503 ``rate_limit_unavailable``.

Answers on limited routes carry ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds until the window resets); a 429 carries ``Retry-After`` too.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from flask import Flask, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded

from nsfw.breaker import Breaker
from nsfw.cache import REDIS_OPTIONS, REDIS_SLOW_S
from nsfw.errors import RateLimited, RateLimitUnavailable
from nsfw.observe import metrics
from nsfw.protect import costs
from nsfw.protect.redis_window import RedisWindows
from nsfw.settings import Settings

log = logging.getLogger(__name__)


def client_address(trusted: tuple) -> str:
    """The caller's address: the peer's, or from X-Forwarded-For when the peer is a trusted proxy.

    X-Forwarded-For is read right to left, skipping the trusted proxies' own addresses; the
    first address that is not one of theirs is the client. Anything before it was written by
    the client itself and is ignored, so a client cannot pick the address it is counted as.
    """
    peer = request.remote_addr or ""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not an address: nothing before it can be trusted
        client = hop
        if not _within(hop, trusted):
            break
    return client


def _within(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


class _Limiter(Limiter):
    """Flask-Limiter, with a Redis storage spent in one round trip, and its outages and slowness handled.

    On Redis, every limit of a request is checked, spent and read back for the headers by one
    script (:mod:`nsfw.protect.redis_window`), behind a :class:`nsfw.breaker.Breaker` that also
    counts slow answers: a Redis that answers each call in 0.4 s (past the 0.15 s socket timeout),
    or three calls in a row in 100 ms or more, is down. While it is, failing open counts in this
    process's memory (Flask-Limiter's fallback) and tries Redis again after the breaker's pause;
    failing closed refuses limited requests at once with 503 ``rate_limit_unavailable``, without
    waiting on Redis. Either way the outage and the return are logged once.
    """

    _nsfw_outage = False
    _nsfw_windows: RedisWindows | None = None  # set by init_app for a Redis storage
    _nsfw_breaker: Breaker | None = None

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        windows, breaker = self._nsfw_windows, self._nsfw_breaker
        if windows is None or breaker is None:  # memory://: Flask-Limiter as it is
            return super()._check_request_limit(callable_name, in_middleware)
        endpoint = request.endpoint or ""
        if not endpoint or endpoint.split(".")[-1] == "static" or g.get("nsfw_open", False):
            return None  # an open route: never counted, so never refused
        if not breaker.open:
            self._storage_dead = False
            started = time.monotonic()
            try:
                self._spend_in_redis(windows)
            except RateLimitExceeded:
                breaker.succeeded(time.monotonic() - started)
                raise
            except Exception as exc:
                breaker.failed(exc)
                self._outage(True, f"{type(exc).__name__}: {exc}")
            else:
                breaker.succeeded(time.monotonic() - started)
                if not breaker.open:
                    return self._outage(False)
                self._outage(True, "its answers are too slow")  # this request was counted there
                return None
        if not self._in_memory_fallback_enabled:
            raise RateLimitUnavailable()
        self._storage_dead = True  # Flask-Limiter's per-process memory until the breaker's pause is over
        self.context.seen_limits.clear()
        return super()._check_request_limit(callable_name, in_middleware)

    def _spend_in_redis(self, windows: RedisWindows) -> None:
        """All application limits of this request, in one round trip; RateLimitExceeded when over one."""
        endpoint = request.endpoint or ""
        runtime = [lim for lim in self._nsfw_limits if not lim.is_exempt]
        if not runtime:
            return
        scope = request.method
        items = [(lim.limit, [self._key_prefix, lim.key_func(), lim.scope_for(endpoint, scope)]) for lim in runtime]
        cost = runtime[0].deduction_amount
        outcome = windows.hit(items, cost)
        requests = []
        for (item, args), window, lim in zip(items, outcome.windows, runtime, strict=True):
            request_limit = RequestLimit(self, item, args, False, lim.shared)
            request_limit._window = window  # read back by the script: no second round trip for the headers
            requests.append(request_limit)
        self.context.view_rate_limits = requests
        self.context.view_rate_limit = min(requests, key=lambda r: r.remaining)
        if not outcome.spent:  # refused by the limit with the fewest units left for this cost
            short = [r.remaining - min(cost, r.limit.amount) for r in requests]
            refused = short.index(min(short))
            requests[refused].breached = True
            self.context.view_rate_limit = requests[refused]
            raise RateLimitExceeded(runtime[refused])

    def _outage(self, down: bool, detail: str = "") -> None:
        if down == self._nsfw_outage:
            return
        self._nsfw_outage = down
        metrics.dependency_up("rate_limit_redis", not down)
        if not down:
            log.warning("rate limit storage answers again; limits are shared again")
        elif self._in_memory_fallback_enabled:
            log.warning("rate limit storage is unreachable (%s); counting in this process's memory", detail)
        else:
            log.warning("rate limit storage is unreachable (%s); refusing limited requests until it answers", detail)


def _key(trusted: tuple):
    def key() -> str:
        name = g.get("client_name")
        return f"key:{name}" if name is not None else f"addr:{client_address(trusted)}"

    return key


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Register the limiter; the caller's hook has already set ``g.nsfw_cost`` (images) and ``g.client_name``."""
    fail_open = settings.rate_limit_fail == "open"
    redis = not settings.rate_limit_storage.startswith("memory://")
    application = ApplicationLimit(settings.rate_limit, cost=lambda: g.get("nsfw_cost", 1))
    limiter = _Limiter(
        _key(settings.trusted_proxies),
        application_limits=[application],
        storage_uri=settings.rate_limit_storage,
        storage_options=dict(REDIS_OPTIONS) if redis else {},
        # a refused request spends nothing, and no burst of twice the limit across a window's edge
        strategy="sliding-window-counter",
        key_prefix="nsfw",
        headers_enabled=False,  # set below, with the reset as seconds to wait, not a timestamp
        swallow_errors=fail_open,
        in_memory_fallback_enabled=fail_open and redis,
    )
    limiter.request_filter(lambda: g.get("nsfw_open", False))
    if redis:  # shared counters: their Redis is watched like the cache's (nsfw_dependency_up)
        metrics.dependency_up("rate_limit_redis", True)
    limiter.init_app(app)
    if redis:
        limiter._nsfw_limits = list(application)
        limiter._nsfw_windows = RedisWindows(limiter.storage)
        limiter._nsfw_breaker = Breaker("rate_limit_redis", "rate limit storage", "", slow_s=REDIS_SLOW_S, quiet=True)
    app.extensions["nsfw_limiter"] = limiter
    app.after_request(_headers)
    app.after_request(costs.spend_after(costs.video_cost(settings)))  # runs first: the headers show what it spent
    app.register_error_handler(RateLimitExceeded, _breached)
    return limiter


def _window() -> tuple[int, int, int] | None:
    """(limit, remaining, seconds to reset) of the limit this request is closest to exhausting, if any.

    With several limits (``600/minute;20/second``) the one with the fewest units left is the one
    a client must pace itself by; on a breach it is the breached one.
    """
    limiter = current_app.extensions["nsfw_limiter"]
    try:
        current = limiter.current_limit
        if current is None:
            return None
        if not current.breached:
            current = min(limiter.current_limits, key=lambda limit: limit.remaining)
        reset = max(0, math.ceil(current.window[0] - time.time()))
        return current.limit.amount, max(0, current.remaining), reset
    except Exception:  # the storage failed since the check: the answer goes out without the headers
        return None


def _headers(response):
    if g.get("nsfw_open", False):
        return response
    window = _window()
    if window is not None:
        limit, remaining, reset = window
        response.headers["RateLimit-Limit"] = str(limit)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
    return response


def _breached(exc: RateLimitExceeded):
    """Flask-Limiter's 429, answered by the app's ServiceError handler like every other failure."""
    window = _window()
    error = RateLimited(
        f"rate limit exceeded ({exc.limit.limit}, counted in images)", retry_after=window[2] if window else 1
    )
    return current_app.handle_user_exception(error)
