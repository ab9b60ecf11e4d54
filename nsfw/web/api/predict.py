"""The HTTP contract: POST /predict, GET /health, GET /ready.

``/predict`` answers exactly the five flat scores existing clients parse:
``{"drawings", "hentai", "neutral", "porn", "sexy"}``. The image comes from
``?url=`` (the original contract) or, when there is no url, from the request
itself: a multipart field ``image`` or a raw body with an ``image/*`` type.
"""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from nsfw.errors import MissingURL, ModelError, NotReady, UnknownModel
from nsfw.web import inputs, observability
from nsfw.web.current import detector
from nsfw.web.openapi.error_groups import ADMISSION_ERRORS, BODY_TOO_LARGE, DECODE_ERRORS, FETCH_ERRORS
from nsfw.web.openapi.fragments import URL
from nsfw.web.openapi.spec import MODEL_PARAM, doc, image_body, json_response, query, ref

bp = Blueprint("nsfw", __name__)


@bp.get("/health")
@doc("Liveness", responses={200: json_response("the process serves HTTP", ref("Health"))})
def health():
    """Liveness for platform health checks: touches no model."""
    return jsonify(status="ok")


@bp.get("/ready")
@doc(
    "Readiness",
    responses={200: json_response("the model is loaded and warm", ref("Ready"))},
    errors=(NotReady,),
)
def ready():
    """200 once this worker has loaded and warmed its model, 503 before."""
    if not detector().ready:
        raise NotReady()
    return jsonify(status="ready")


@bp.post("/predict")
@doc(
    "Classify one image: the five scores",
    description="The image comes from `?url=` or, without one, from the body: a raw `image/*` "
    "body or a multipart field `image`. Answers exactly the five class probabilities. A video "
    "(MP4/MOV, WebM, Matroska; a `video/*` body or a field `video` too) answers its worst frame's.",
    parameters=[query("url", URL, "the image to download"), MODEL_PARAM],
    body=image_body(required=False),
    responses={
        200: json_response(
            "the scores",
            ref("Scores"),
            headers={
                "Server-Timing": {
                    "description": "milliseconds per stage, e.g. `decode;dur=1.234, inference;dur=5.678`",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        )
    },
    errors=(MissingURL, *FETCH_ERRORS, *DECODE_ERRORS, *ADMISSION_ERRORS, UnknownModel, ModelError, BODY_TOO_LARGE),
)
def predict():
    detector_ = detector()
    url = request.args.get("url", "").strip()
    model = request.args.get("model") or None
    if url:
        result = detector_.classify_url(url, model)
    else:
        upload = inputs.single_upload(request, detector_.settings.max_bytes, detector_.video_bytes)
        result = detector_.classify_bytes(upload, model)
    observability.note(result, url or None)
    started = time.perf_counter()
    response = jsonify(result.scores)
    timings = {**result.timings_ms, "serialise": (time.perf_counter() - started) * 1000.0}
    response.headers["Server-Timing"] = ", ".join(f"{stage};dur={ms:.3f}" for stage, ms in timings.items())
    return response
