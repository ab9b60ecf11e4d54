"""Rate limits in images, per API key or per client address, with Flask-Limiter.

One application-wide limit (NSFW_RATE_LIMIT, e.g. ``600/minute;20/second``) is shared by every
protected route, and a request spends as many units as it carries images: a 16-image batch
spends 16. The count is taken before any work, from what the request already holds (the
JSON list, the multipart fields), never by downloading or decoding anything.

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
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.errors import RateLimitExceeded

from nsfw.cache import REDIS_OPTIONS
from nsfw.errors import RateLimited, RateLimitUnavailable
from nsfw.observe import metrics
from nsfw.settings import Settings

log = logging.getLogger(__name__)


class ImageCounter:
    """How many images a request carries, from what is already parsed or cheap to parse."""

    def __init__(self, max_batch: int):
        self.max_batch = max_batch

    def images(self, req) -> int:
        if req.endpoint not in ("v1.classify", "v1.hash_images"):
            return 1  # /predict, /compute: one image; /v1/models: one unit
        count = 1
        mimetype = req.mimetype or ""
        if mimetype == "application/json":
            try:
                body = req.get_json(silent=True)  # cached: the view does not parse it again
            except RecursionError:  # the view answers invalid_request
                body = None
            if isinstance(body, dict):
                for field in ("urls", "images"):
                    if isinstance(body.get(field), list):
                        count = len(body[field])
        elif mimetype == "multipart/form-data":
            count = len(req.files.getlist("image"))
        # a batch over NSFW_MAX_BATCH is refused before any work: it spends what the largest allowed one does
        return max(1, min(count, self.max_batch))


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
    """Flask-Limiter, with a storage outage logged once and, when failing closed, answered as a 503.

    Failing open, Flask-Limiter itself falls back to per-process memory and goes back to the
    storage when it answers a ping again; its own log line goes to a logger with no handler, so
    this one says it. Failing closed, the storage's error would escape Flask-Limiter's hook as
    whatever Redis raised (a 500); it becomes ``rate_limit_unavailable`` instead.
    """

    _nsfw_outage = False

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        try:
            super()._check_request_limit(callable_name, in_middleware)
        except RateLimitExceeded:
            raise
        except Exception as exc:  # only when failing closed: failing open, Flask-Limiter swallows it
            self._outage(True, f"{type(exc).__name__}: {exc}; refusing limited requests until it answers")
            raise RateLimitUnavailable() from None
        finally:
            if self._storage_dead != self._nsfw_outage and self._in_memory_fallback_enabled:
                self._outage(self._storage_dead, "counting in this process's memory until it answers")
        if self._nsfw_outage and not self._in_memory_fallback_enabled:
            self._outage(False, "")

    def _outage(self, down: bool, detail: str) -> None:
        if down == self._nsfw_outage:
            return
        self._nsfw_outage = down
        metrics.dependency_up("rate_limit_redis", not down)
        if down:
            log.warning("rate limit storage is unreachable (%s)", detail)
        else:
            log.warning("rate limit storage answers again; limits are shared again")


def _key(trusted: tuple):
    def key() -> str:
        name = g.get("client_name")
        return f"key:{name}" if name is not None else f"addr:{client_address(trusted)}"

    return key


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Register the limiter; the caller's hook has already set ``g.nsfw_cost`` (images) and ``g.client_name``."""
    fail_open = settings.rate_limit_fail == "open"
    redis = not settings.rate_limit_storage.startswith("memory://")
    limiter = _Limiter(
        _key(settings.trusted_proxies),
        application_limits=[ApplicationLimit(settings.rate_limit, cost=lambda: g.get("nsfw_cost", 1))],
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
    app.extensions["nsfw_limiter"] = limiter
    app.after_request(_headers)
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
