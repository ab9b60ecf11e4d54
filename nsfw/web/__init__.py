"""The HTTP layer: the Flask app factory, one blueprint per API, inputs, OpenAPI and error JSON.

Owns everything that knows about HTTP; it calls the core (``nsfw.pipeline``) and ``nsfw.verdict``.
Nothing below it (fetch, imaging, models, pipeline) may import from here.
"""

from __future__ import annotations

from flask import Flask

from nsfw import protect
from nsfw.pipeline import Detector
from nsfw.settings import Settings
from nsfw.web import (
    api_v1,
    compute,
    error_handlers,
    headers,
    inputs,
    observability,
    openapi,
    page,
    review_api,
    review_page,
    review_session,
    routes,
)


def create_app(settings: Settings | None = None) -> Flask:
    """Application factory: settings from the environment unless the caller passes its own.

    Nothing heavy happens here; the model is loaded after gunicorn forks
    (see nsfw/server/gunicorn_conf.py) or, outside gunicorn, on first use.
    """
    settings = settings or Settings.from_env()
    app = Flask("nsfw")
    app.request_class = type(
        "Request", (inputs.SpooledRequest,), {"tmp_dir": settings.tmp_dir, "spool_bytes": settings.spool_bytes}
    )
    # The whole request body; each image in it is held to NSFW_MAX_BYTES as well.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["nsfw"] = Detector(settings)
    observability.init_app(app, settings)  # first: request ids for every later hook; GET /metrics
    error_handlers.init_app(app)
    headers.init_app(app)
    protect.init_app(app, settings)  # API keys and rate limits, when configured
    app.register_blueprint(routes.bp)
    app.register_blueprint(api_v1.bp)
    app.register_blueprint(compute.bp)
    app.register_blueprint(openapi.bp)  # GET /openapi.json, /docs
    app.register_blueprint(page.bp)  # GET /: a page to try the API in a browser
    review_api.init_app(app, settings)  # /v1/review/*; with NSFW_REVIEW on, the queue on the Detector
    review_session.init_app(app, settings)  # the reviewers' session cookie
    app.register_blueprint(review_page.bp)  # GET /review, /review/calibration: the reviewers' pages
    return app
