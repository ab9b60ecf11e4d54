"""The HTTP contract: POST /predict, GET /health, GET /ready.

``/predict`` answers exactly the five flat scores existing clients parse:
``{"drawings", "hentai", "neutral", "porn", "sexy"}``. The image comes from
``?url=`` (the original contract) or, when there is no url, from the request
itself: a multipart field ``image`` or a raw body with an ``image/*`` type.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from .errors import MissingURL, NotReady

bp = Blueprint("nsfw", __name__)


def detector():
    return current_app.extensions["nsfw"]


@bp.get("/health")
def health():
    """Liveness for platform health checks: touches no model."""
    return jsonify(status="ok")


@bp.get("/ready")
def ready():
    """200 once this worker has loaded and warmed its model, 503 before."""
    if not detector().ready:
        raise NotReady()
    return jsonify(status="ready")


@bp.post("/predict")
def predict():
    url = request.args.get("url", "").strip()
    if url:
        result = detector().classify_url(url)
    else:
        result = detector().classify_bytes(uploaded_image())
    started = time.perf_counter()
    response = jsonify(result.scores)
    timings = {**result.timings_ms, "serialise": (time.perf_counter() - started) * 1000.0}
    response.headers["Server-Timing"] = ", ".join(
        f"{stage};dur={ms:.3f}" for stage, ms in timings.items()
    )
    return response


def uploaded_image() -> bytes:
    """The image sent in the request body; its size is capped by MAX_CONTENT_LENGTH."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is not None:
            return upload.read()
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        data = request.get_data(cache=False)
        if data:
            return data
    raise MissingURL("give the image as ?url=, a multipart field 'image' or an image/* body")
