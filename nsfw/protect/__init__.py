"""Who may use the service, and how much: API keys and rate limits, in front of every route but a few.

``init_app`` is all the web layer calls. With neither NSFW_API_KEYS_FILE nor NSFW_RATE_LIMIT set
(the default) it adds no hook at all, so an open instance pays nothing per request.

Open routes, never asked for a key nor counted: liveness and readiness (platform probes), the
API description (``/openapi.json``, ``/docs``), ``/metrics`` (its own token), the browser page at
``/`` with its static files, and requests that match no route (they fail as 404/405 anyway).
A view can be opened explicitly with :func:`public`.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request

from nsfw.protect import costs, keys, limits
from nsfw.settings import Settings

log = logging.getLogger(__name__)

OPEN_ENDPOINTS = frozenset({"nsfw.health", "nsfw.ready", "docs.openapi_json", "docs.swagger_ui", "docs.swagger_asset"})
OPEN_PATHS = frozenset({"/", "/health", "/ready", "/metrics", "/openapi.json"})


def public(view):
    """Mark a view as open: no key asked, nothing counted."""
    view.public = True
    return view


def is_open() -> bool:
    """Whether the current request is to an open route (see the module's docstring)."""
    if request.endpoint is None or request.method == "OPTIONS":
        return True
    return open_route(current_app, request.endpoint, request.path)


def open_route(app: Flask, endpoint: str, path: str) -> bool:
    """Whether a route is open; the OpenAPI document asks this too, to mark what needs a key."""
    if endpoint in OPEN_ENDPOINTS or path in OPEN_PATHS or endpoint == "static" or endpoint.endswith(".static"):
        return True
    return getattr(app.view_functions.get(endpoint), "public", False)


def init_app(app: Flask, settings: Settings) -> None:
    """API keys (NSFW_API_KEYS_FILE) first, then rate limits (NSFW_RATE_LIMIT), as configured."""
    key_set = keys.load_api_keys(settings.api_keys_file) if settings.api_keys_file else None
    if key_set is None:
        log.warning("NSFW_API_KEYS_FILE is not set: the API is open to anyone who can reach it")
    if key_set is None and settings.rate_limit is None:
        return
    counter = costs.ImageCounter(settings.max_batch, costs.video_cost(settings)) if settings.rate_limit else None

    def admit():
        if is_open():
            g.nsfw_open = True
            return
        if key_set is not None:
            g.client_name = key_set.authenticate(request.headers)
        if counter is not None:
            g.nsfw_cost = counter.images(request)

    app.before_request(admit)  # before the limiter's own hook, which reads what this one sets
    if settings.rate_limit:
        limits.init_app(app, settings)
