"""Every failure leaves the service as the same JSON shape.

``{"error": {"code": "...", "message": "...", "request_id": "..."}}`` with the status of the
failure: typed pipeline errors, Flask/Werkzeug HTTP errors (unknown route,
wrong method, oversized body) and, as a last resort, anything unexpected,
which is logged and answered with a 500 that reveals nothing internal.
"""

from __future__ import annotations

import logging

from flask import Flask, g, has_request_context, jsonify
from werkzeug.exceptions import HTTPException

from nsfw.errors import ServiceError, TooLarge
from nsfw.web import observability

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: dict | None = None):
    error = {"code": code, "message": message, **(details or {})}
    if has_request_context():
        # the code is what the metrics and the request log report; the id ties the answer to the log line
        g.error_code = code
        error["request_id"] = observability.request_id()
    response = jsonify({"error": error})
    response.status_code = status
    return response


def _service_error(exc: ServiceError):
    response = error_response(exc.status, exc.code, exc.message, exc.details())
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    response.headers.update(exc.headers)
    return response


# Werkzeug's own 413 (request body over MAX_CONTENT_LENGTH) gets the same code
# as a download over the cap: to a caller both mean "your image is too big".
_CODES = {413: TooLarge.code}


def _http_error(exc: HTTPException):
    code = _CODES.get(exc.code or 0) or (exc.name or "error").lower().replace(" ", "_")
    message = TooLarge.default_message if exc.code == 413 else exc.description or exc.name
    response = error_response(exc.code or 500, code, message)
    allowed = getattr(exc, "valid_methods", None)  # MethodNotAllowed's
    if exc.code == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _unexpected(exc: Exception):
    log.exception("unhandled error")
    return error_response(500, "internal_error", "internal error")


def init_app(app: Flask) -> None:
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
