"""Observability of every request: its id, its metrics, its log line; and ``GET /metrics``.

Each request gets an id (the caller's ``X-Request-ID`` when safe, see
``nsfw.observe.request_ids``), echoed in the ``X-Request-ID`` header and in error bodies.
When it is answered, ``nsfw_http_*`` metrics are recorded under its URL rule (never the raw
path) and one line is logged to ``nsfw.request`` with what the views noted about the images
(``note``). The pipeline reports downloads and the decoder queue through hooks set here.
"""

from __future__ import annotations

import collections
import hmac
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, request

from nsfw.errors import Unauthorized
from nsfw.observe import logs, metrics, request_ids
from nsfw.pipeline import Observer
from nsfw.settings import Settings
from nsfw.verdict import Thresholds, verdict
from nsfw.web import current
from nsfw.web.openapi.spec import doc

_LOG = logging.getLogger(logs.REQUEST_LOGGER)
_INFO = logging.INFO


class MetricsUnauthorized(Unauthorized):
    """NSFW_METRICS_TOKEN is set and the scrape did not send it as a bearer token."""

    default_message = "this endpoint needs a valid bearer token"
    headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}


class _State:
    """What the hooks need of the app's settings, read once."""

    def __init__(self, settings: Settings):
        self.thresholds = Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)
        self.cache_on = settings.cache_size > 0
        self.full_urls = settings.log_full_urls
        self.token = settings.metrics_token.encode() if settings.metrics_token else None


def request_id() -> str:
    """This request's id (made now if the request never reached ``_start``, e.g. refused before it)."""
    rid = g.get("request_id")
    if rid is None:
        rid = g.request_id = request_ids.accept(request.headers.get(request_ids.HEADER))
    return rid


def note(result, url: str | None = None) -> None:
    """A view's report of one image classified: counted now, logged with the request."""
    state = current_app.extensions["nsfw_observe"]
    judged = verdict(result.scores, state.thresholds)
    metrics.classified(result.model, judged, result.timings_ms, result.cached if state.cache_on else None)
    if url is not None:
        url = logs.redact_url(url, state.full_urls)
    results = g.get("results")
    if results is None:
        results = g.results = []
    results.append((result, judged, url))


def _start() -> None:
    g.started = time.perf_counter()
    g.rid_token = request_ids.current.set(request_id())
    metrics.INFLIGHT.inc()


def _finish(response: Response) -> Response:
    # One look-up of the request behind the proxy: each ``request.x`` goes through werkzeug's
    # LocalProxy and its context variable, a dozen of them per request otherwise.
    req = request._get_current_object()  # type: ignore[attr-defined]
    ctx = g._get_current_object()
    rid = request_id()
    response.headers[request_ids.HEADER] = rid
    started = ctx.get("started")
    seconds = time.perf_counter() - started if started is not None else None
    rule = req.url_rule
    route = rule.rule if rule is not None else "unmatched"
    code = ctx.get("error_code")
    status = response.status_code
    method = req.method
    metrics.request_done(route, method, status, code, seconds)
    if _LOG.isEnabledFor(_INFO):
        path = req.path
        req.environ[logs.LOGGED] = True
        _LOG.info("%s %s %s", method, path, status, extra=_fields(req, ctx, route, path, status, code, seconds, rid))
    return response


def _fields(req, ctx, route: str, path: str, status: int, code, seconds, rid: str) -> dict:
    fields = {
        "request_id": rid,
        "method": req.method,
        "route": route,
        "path": path,
        "status": status,
        "code": code,
        "duration_ms": round(seconds * 1000.0, 3) if seconds is not None else None,
        "bytes_in": req.content_length,
        "client": ctx.get("client_name"),
        "remote_addr": req.remote_addr,
        # the header itself: ``request.user_agent`` builds a UserAgent object only to give it back
        "user_agent": req.headers.get("User-Agent", "")[:256] or None,
    }
    results = ctx.get("results")
    if results:
        first, judged, url = results[0]
        fields["model"] = first.model
        fields["images"] = len(results)
        fields["bytes_fetched"] = sum(r.size for r, _, u in results if u is not None)
        if len(results) == 1:
            fields["verdict"] = judged
            fields["timings_ms"] = first.timings_ms
            fields["cached"] = first.cached
            fields["url"] = url
        else:
            fields["verdicts"] = dict(collections.Counter(v for _, v, _ in results))
            totals: collections.Counter[str] = collections.Counter()
            for result, _, _ in results:
                totals.update(result.timings_ms)
            fields["timings_ms"] = {stage: round(ms, 3) for stage, ms in totals.items()}
            fields["urls"] = [u for _, _, u in results if u is not None] or None
    return fields


def _teardown(exc) -> None:
    token = g.pop("rid_token", None)
    if token is not None:
        metrics.INFLIGHT.dec()
        request_ids.current.reset(token)


def _publish_models(detector) -> None:
    """nsfw_model_info for every model this worker serves, once they are loaded."""
    if not detector.ready:
        return
    for name in detector.models.names:
        model = detector.models.get(name)
        runtime = "tensorflow" if "tensorflow" in type(model).__module__ else "litert"
        metrics.model_served(name, model.spec.sha256, runtime)


bp = Blueprint("observe", __name__)


@bp.get("/metrics")
@doc(
    "Prometheus metrics of every worker of this instance",
    responses={
        200: {
            "description": "the Prometheus text format (or OpenMetrics when the Accept header asks for it)",
            "content": {"text/plain": {}, "application/openmetrics-text": {}},
        }
    },
    errors=(MetricsUnauthorized,),
)
def metrics_view():
    """Needs `Authorization: Bearer <NSFW_METRICS_TOKEN>` when that variable is set."""
    state = current_app.extensions["nsfw_observe"]
    if state.token is not None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), state.token):
            raise MetricsUnauthorized()
    _publish_models(current.detector())
    review = current.review_or_none()
    if review is not None:
        pending = review.pending()
        if pending is not None:
            metrics.review_pending(pending)
    body, content_type = metrics.exposition(request.headers.get("Accept"))
    return Response(body, content_type=content_type)


class _Metrics(Observer):
    """The core's downloads, decoder queue and decoder processes, as metrics."""

    def fetched(self, size: int) -> None:
        metrics.fetched(size)

    def queued(self, depth: int) -> None:
        metrics.QUEUE_DEPTH.set(depth)

    def decoder(self, event: str) -> None:
        metrics.decoder(event)


def init_app(app: Flask, settings: Settings) -> None:
    """Register first, so every later before_request hook (and its refusals) already has a request id."""
    app.extensions["nsfw_observe"] = _State(settings)
    current.detector(app).observe(_Metrics())
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
    app.register_blueprint(bp)
