"""The service's Prometheus metrics, aggregated across gunicorn workers.

Under gunicorn every worker writes its samples to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` (prepared by the master, see ``nsfw.server.gunicorn_conf``)
and ``exposition`` reads all of them, so any worker answers ``/metrics`` for the whole
instance. Without that variable (tests, the CLI) the metrics live in this process.

Every label value is bounded: routes are URL rules, methods and error codes come
from fixed sets, models are the served ones, stages and verdicts are the pipeline's.
"""

from __future__ import annotations

import functools
import os
import re

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

disable_created_metrics()  # the *_created series only double the output

#: Seconds, 5 ms to 30 s: a cached answer, a photo (about 20 ms), a slow download, the deadline.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
STAGES = ("fetch", "queue", "decode", "preprocess", "inference")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
#: Error codes that mean "refused by a limit or a policy", each its own reason.
REJECTIONS = frozenset(
    {
        "overloaded",
        "rate_limited",
        "unauthorized",
        "forbidden",
        "too_large",
        "batch_too_large",
        "image_too_large",
        "image_too_complex",
        "blocked_address",
        "deadline_exceeded",
        "request_timeout",
        "header_too_large",
        "uri_too_long",
        "not_ready",
    }
)
#: Statuses that are refusals whatever their code; an unknown code there counts as "other".
REJECTION_STATUSES = frozenset({401, 403, 408, 413, 429, 431, 503})
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")

REQUESTS = Counter("nsfw_http_requests", "HTTP requests answered by the app", ["route", "method", "status", "code"])
REQUEST_SECONDS = Histogram(
    "nsfw_http_request_duration_seconds", "Time to answer an HTTP request", ["route"], buckets=BUCKETS
)
STAGE_SECONDS = Histogram(
    "nsfw_stage_duration_seconds", "Time one image spent in each pipeline stage", ["stage", "model"], buckets=BUCKETS
)
CLASSIFICATIONS = Counter(
    "nsfw_classifications", "Images classified, by verdict at the configured thresholds", ["model", "verdict"]
)
CACHE = Counter("nsfw_cache_requests", "Result cache lookups", ["result"])
FETCH_BYTES = Counter("nsfw_fetch_bytes", "Image bytes downloaded")
REJECTED = Counter("nsfw_rejected", "Requests refused by a limit or a policy", ["reason"])
#: The review queue (nsfw/review), by what happened; every value is one of REVIEW_EVENTS.
REVIEW = Counter("nsfw_review_events", "Review queue work, by outcome (see REVIEW_EVENTS)", ["event"])
REVIEW_EVENTS = frozenset(
    {
        "queued",  # a new item
        "seen",  # one more view of an item already queued
        "dropped",  # not queued: the writer's buffer was full or the database was down
        "store_error",  # a write to the review database failed
        "lookup_error",  # a decision lookup failed (the model's verdict was answered)
        "lookup_slow",  # a decision lookup answered past NSFW_REVIEW_LOOKUP_TIMEOUT (the breaker opens)
        "remembered",  # a classification answered with a reviewer's decision
        "webhook_delivered",
        "webhook_failed",  # one failed attempt (it is retried)
        "webhook_gave_up",  # the last attempt failed
        "pruned_items",
        "pruned_thumbnails",
        "capped_items",  # undecided items deleted, oldest first, to keep NSFW_REVIEW_MAX_ITEMS
    }
)
#: Why a decoder process ended (nsfw.imaging.sandbox); a new one is started for the next image.
DECODER_DEATHS = (
    "deadline",  # killed: the request's deadline came first
    "cpu",  # over its CPU budget (NSFW_DECODE_CPU_S, NSFW_VIDEO_CPU_S)
    "memory",  # over its memory budget (or the kernel's OOM killer)
    "crashed",  # died otherwise, or answered nonsense
    "abandoned",  # its caller stopped mid-video (inference failed or the deadline passed)
)
DECODER_STARTS = Counter("nsfw_decoder_starts", "Decoder processes started (the first ones and every replacement)")
DECODER_ENDS = Counter(
    "nsfw_decoder_deaths", "Decoder processes killed or dead, by reason (see DECODER_DEATHS)", ["reason"]
)
#: The dependencies the service works without (nsfw.breaker), each its own label value.
DEPENDENCIES = ("cache_redis", "rate_limit_redis", "review_database")
DEPENDENCY_UP = Gauge(
    "nsfw_dependency_up",
    "1 while a dependency answers, 0 from its failure until it answers again (the lowest of the workers)",
    ["dependency"],
    multiprocess_mode="livemin",
)
REVIEW_PENDING = Gauge(
    "nsfw_review_pending",
    "Review queue items waiting for a decision, counted when /metrics is scraped",
    multiprocess_mode="livemostrecent",
)
INFLIGHT = Gauge("nsfw_inflight_requests", "Requests being served now", multiprocess_mode="livesum")
QUEUE_DEPTH = Gauge("nsfw_queue_depth", "Images waiting for a decoder", multiprocess_mode="livesum")
MODEL_INFO = Gauge(
    "nsfw_model_info", "The models served (value 1)", ["model", "sha256", "runtime"], multiprocess_mode="livemax"
)


# The series alerts take a rate of exist from the start at 0: a counter first seen at 1 hides that increase.
for _reason in DECODER_DEATHS:
    DECODER_ENDS.labels(_reason)
REJECTED.labels("overloaded")


@functools.cache
def _child(metric, *labels):
    """A labelled series, looked up once: ``labels()`` costs microseconds on every request otherwise.
    The cache is as bounded as the label values are."""
    return metric.labels(*labels)


def code_label(code: str | None) -> str:
    """An error code as a label: empty for a success, "other" for anything not shaped like a code."""
    if not code:
        return ""
    return code if _CODE.fullmatch(code) else "other"


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def request_done(route: str, method: str, status: int, code: str | None, seconds: float | None) -> None:
    """One answered request; ``seconds`` is None when its start was never seen (refused by an earlier hook)."""
    code = code_label(code)
    _child(REQUESTS, route, method_label(method), str(status), code).inc()
    if seconds is not None:
        _child(REQUEST_SECONDS, route).observe(seconds)
    if code:
        rejected(code, status)
    elif status in REJECTION_STATUSES:  # an answer that did not come through the error handlers
        _child(REJECTED, "other").inc()


def rejected(code: str, status: int) -> None:
    if code in REJECTIONS:
        _child(REJECTED, code).inc()
    elif status in REJECTION_STATUSES:
        _child(REJECTED, "other").inc()


def classified(model: str, verdict: str, timings_ms: dict, cached: bool | None) -> None:
    """One image's result: its verdict, its stage timings (a cached one has only its download's)
    and the cache outcome (None: the cache is off)."""
    _child(CLASSIFICATIONS, model, verdict).inc()
    if cached is not None:
        _child(CACHE, "hit" if cached else "miss").inc()
    for stage in STAGES:
        ms = timings_ms.get(stage)
        if ms is not None and not (cached and stage != "fetch"):
            _child(STAGE_SECONDS, stage, model).observe(ms / 1000.0)


def review(event: str, count: int = 1) -> None:
    if event not in REVIEW_EVENTS:
        raise ValueError(f"not a review event: {event}")
    if count:
        _child(REVIEW, event).inc(count)


def decoder(event: str) -> None:
    """A decoder process ``"started"`` or ended for one of DECODER_DEATHS."""
    if event == "started":
        DECODER_STARTS.inc()
    elif event in DECODER_DEATHS:
        _child(DECODER_ENDS, event).inc()
    else:
        raise ValueError(f"not a decoder event: {event}")


def dependency_up(name: str, up: bool) -> None:
    if name not in DEPENDENCIES:
        raise ValueError(f"not a dependency: {name}")
    _child(DEPENDENCY_UP, name).set(1 if up else 0)


def review_pending(count: int) -> None:
    REVIEW_PENDING.set(count)


def fetched(nbytes: int) -> None:
    FETCH_BYTES.inc(nbytes)


def model_served(model: str, sha256: str | None, runtime: str) -> None:
    MODEL_INFO.labels(model, sha256 or "", runtime).set(1)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """Every worker's metrics (or this process's) in the format the scraper's Accept header asks
    for (Prometheus text by default, or OpenMetrics), and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return encoder(registry), content_type
    return encoder(REGISTRY), content_type
