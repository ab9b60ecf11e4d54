"""The HTTP layer: the Flask app factory and what every view shares; the views in subpackages.

``api/`` the JSON APIs (``/predict``, ``/v1/*``, ``/compute``), ``openapi/`` the OpenAPI document and
``/docs``, ``page/`` the page at ``/``, ``review/`` the reviewers' API and pages; beside them the
inputs, error JSON, headers, observability and ``current`` (the Detector and review queue of the
app). It calls the core (``nsfw.pipeline``) and ``nsfw.verdict``; nothing below it imports from here.
"""

from __future__ import annotations

from flask import Flask

from nsfw import protect
from nsfw.pipeline import Detector
from nsfw.settings import Settings
from nsfw.web import current, error_handlers, headers, inputs, observability
from nsfw.web.api import compute, predict, v1
from nsfw.web.openapi import views as openapi_views
from nsfw.web.page import views as page
from nsfw.web.review import api as review_api
from nsfw.web.review import calibration_page, frame, pages, sign_in  # noqa: F401 - their routes on frame.bp
from nsfw.web.review import session as review_session


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
    current.set_detector(app, Detector(settings))
    observability.init_app(app, settings)  # first: request ids for every later hook; GET /metrics
    error_handlers.init_app(app)
    headers.init_app(app)
    protect.init_app(app, settings)  # API keys and rate limits, when configured
    app.register_blueprint(predict.bp)
    app.register_blueprint(v1.bp)
    app.register_blueprint(compute.bp)
    app.register_blueprint(openapi_views.bp)  # GET /openapi.json, /docs
    app.register_blueprint(page.bp)  # GET /: a page to try the API in a browser
    review_api.init_app(app, settings)  # /v1/review/*; with NSFW_REVIEW on, the queue observing the Detector
    review_session.init_app(app, settings)  # the reviewers' session cookie
    app.register_blueprint(frame.bp)  # GET /review, /review/calibration: the reviewers' pages
    return app
