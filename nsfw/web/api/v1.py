"""API v1: batches, uploads and base64, verdicts, the category view, the models served.

``POST /v1/classify`` answers ``{"results": [...]}`` in input order; each item
is a full classification or ``{"source", "error"}``: one failing image never
fails the batch. ``POST /v1/hash`` takes the same inputs and answers their PDQ
hashes without classifying them. ``GET /v1/models`` describes what this worker serves.
"""

from __future__ import annotations

from typing import cast

from flask import Blueprint, jsonify, request

from nsfw import hashing
from nsfw.errors import (
    BatchTooLarge,
    InvalidRequest,
    InvalidThresholds,
    MissingURL,
    ModelError,
    ServiceError,
    UnknownModel,
)
from nsfw.verdict import Thresholds, categories, nsfw_score, verdict
from nsfw.web import current, inputs, observability
from nsfw.web.current import detector
from nsfw.web.openapi.error_groups import BODY_TOO_LARGE
from nsfw.web.openapi.fragments import THRESHOLD
from nsfw.web.openapi.spec import MODEL_PARAM, doc, image_body, json_response, query, ref

bp = Blueprint("v1", __name__, url_prefix="/v1")
# The multipart fields /v1/classify and /v1/hash both take: any number of images and videos.
UPLOAD_FIELDS = {
    "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
    "video": {"type": "array", "items": {"type": "string", "format": "binary"}},
}


def default_thresholds() -> Thresholds:
    settings = detector().settings
    return Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)


@bp.post("/classify")
@doc(
    "Classify a batch: verdicts, the category view, per-item errors",
    description="Images as JSON (`url`, `urls`, `image` or `images` as base64), multipart `image` "
    "fields or a raw `image/*` body; videos the same ways, or as `video` fields or a `video/*` body "
    "(their items add `video` and a `timeline` of every classified frame). `model` and the thresholds "
    "come from the query string, or from the JSON body or form fields (which win). One failing image "
    "never fails the batch.",
    parameters=[
        MODEL_PARAM,
        query("adult_threshold", THRESHOLD, "verdict `adult` when nsfw >= this (default NSFW_ADULT_THRESHOLD)"),
        query("safe_threshold", THRESHOLD, "verdict `safe` when nsfw <= this (default NSFW_SAFE_THRESHOLD)"),
    ],
    body=image_body(
        required=True,
        json_schema=ref("ClassifyRequest"),
        multipart={
            "type": "object",
            "properties": {
                **UPLOAD_FIELDS,
                "model": ref("ModelName"),
                "adult_threshold": THRESHOLD,
                "safe_threshold": THRESHOLD,
            },
        },
    ),
    responses={200: json_response("one result per image, in input order", ref("ClassifyResponse"))},
    errors=(InvalidRequest, MissingURL, BatchTooLarge, InvalidThresholds, UnknownModel, ModelError, BODY_TOO_LARGE),
)
def classify():
    settings = detector().settings
    items, opts = inputs.batch(request, settings.max_bytes, settings.max_batch, detector().video_bytes)
    thresholds = default_thresholds().override(opts.adult_threshold, opts.safe_threshold)
    runnable = [item for item in items if item.error is None]
    # `is None`, not `or`: an empty URL is still a URL (invalid_url), not an image without bytes
    sources = [item.data if item.url is None else item.url for item in runnable]
    # a runnable item has its URL or its bytes (inputs.Item)
    classified = detector().classify_many(cast("list[str | bytes]", sources), opts.model)
    # a reviewer's decision for these bytes is the verdict (NSFW_REVIEW on; else nothing is looked up)
    review = current.review_or_none()
    decisions = review.decisions(o.sha256 for o in classified if not isinstance(o, ServiceError)) if review else {}
    reviewing = review is not None
    outcomes = iter(classified)
    results = []
    for item in items:
        outcome = item.error or next(outcomes)
        if isinstance(outcome, ServiceError):
            results.append({"source": item.source, "error": outcome.to_dict()})
        else:
            observability.note(outcome, item.url)
            result = result_json(item.source, outcome, thresholds)
            if reviewing:
                decide(result, decisions.get(outcome.sha256), outcome.match)
            results.append(result)
    return jsonify(results=results)


@bp.post("/hash")
@doc(
    "Perceptual hashes of a batch, without classifying it",
    description="The same inputs as `/v1/classify` (`url`, `urls`, `image`, `images`, multipart `image` or "
    "`video` fields, a raw `image/*` or `video/*` body); each item answers the PDQ hash and quality of the "
    "image (of its first frame; an animation adds `frames_pdq`, a video a `timeline` of its sampled frames), "
    "exactly as classifying it would compute them, for building hash lists. Counted by the rate limit as "
    "`/v1/classify` is: one unit an image.",
    body=image_body(
        required=True,
        json_schema=ref("HashRequest"),
        multipart={
            "type": "object",
            "properties": UPLOAD_FIELDS,
        },
    ),
    responses={200: json_response("one result per image, in input order", ref("HashResponse"))},
    errors=(InvalidRequest, MissingURL, BatchTooLarge, ModelError, BODY_TOO_LARGE),
)
def hash_images():
    settings = detector().settings
    items, _ = inputs.batch(request, settings.max_bytes, settings.max_batch, detector().video_bytes)
    runnable = [item for item in items if item.error is None]
    hashed = iter(hashing.hash_many(detector(), [item.data if item.url is None else item.url for item in runnable]))
    results = []
    for item in items:
        outcome = item.error or next(hashed)
        if isinstance(outcome, ServiceError):
            results.append({"source": item.source, "error": outcome.to_dict()})
        else:
            results.append(hashes_json(item.source, outcome))
    return jsonify(results=results)


def hashes_json(source: str, hashes: hashing.Hashes) -> dict:
    answer = {
        "source": source,
        "sha256": hashes.sha256,
        "pdq": hashes.pdq.to_dict(),
        "frames": len(hashes.frames_pdq),
        "image": {"format": hashes.image_format, "width": hashes.width, "height": hashes.height},
        "timing_ms": hashes.timings_ms,
    }
    if hashes.times:  # a video: every sampled frame's time and hash
        answer["timeline"] = [{"t": t, "pdq": pdq.to_dict()} for t, pdq in zip(hashes.times, hashes.frames_pdq)]
    elif len(hashes.frames_pdq) > 1:
        answer["frames_pdq"] = [pdq.to_dict() for pdq in hashes.frames_pdq]
    return answer


def decide(result: dict, decision: str | None, match) -> None:
    """Who decides the verdict, in the documented precedence (``reject`` lists have answered 403 before):
    a reviewer's decision of these bytes, the decision a near-duplicate follows, an ``adult``/``safe``
    list, the model. A near-duplicate queued as following a decision has that decision for its exact bytes
    too (written as this answer is made): it is answered with its match."""
    if match is not None and match.source == "review" and decision == match.verdict:
        decision = None
    if decision is not None:
        result["verdict"], result["decided_by"] = decision, "review"
    elif match is not None:
        result["verdict"], result["decided_by"] = match.verdict, match.source
        result["match"] = match.to_dict()
    else:
        result["decided_by"] = "model"


@bp.get("/models")
@doc(
    "The models this worker serves",
    responses={200: json_response("input size, classes, checksum and provenance", ref("ModelsResponse"))},
    errors=(ModelError,),
)
def models():
    return jsonify(models=detector().models.describe())


def result_json(source: str, result, thresholds: Thresholds) -> dict:
    scores = result.scores
    answer = {
        "source": source,
        "model": result.model,
        "scores": scores,
        "top": max(scores, key=scores.get),
        "nsfw": nsfw_score(scores),
        "verdict": verdict(scores, thresholds),
        "categories": categories(scores),
        "frames": result.frames,
        "image": {"format": result.image_format, "width": result.width, "height": result.height},
        "timing_ms": result.timings_ms,
        "cached": result.cached,
        "pdq": result.pdq.to_dict() if result.pdq is not None else None,
    }
    if result.video is None and len(result.frames_pdq) > 1:  # an animation: every classified frame's hash
        answer["frames_pdq"] = [pdq.to_dict() for pdq in result.frames_pdq]
    if result.video is not None:  # a video: what was sampled, and every classified frame's scores
        answer["video"] = {
            "duration_s": result.video["duration_s"],
            "width": result.width,
            "height": result.height,
            "codec": result.video["codec"],
            "frames_classified": result.video["frames_classified"],
            "frames_decoded": result.video["frames_decoded"],
        }
        answer["timeline"] = [_frame_json(frame) for frame in result.timeline]
    return answer


def _frame_json(frame: dict) -> dict:
    """One classified video frame: its time, its scores and its hash."""
    pdq = frame.get("pdq")
    return {"t": frame["t"], "scores": frame["scores"], "pdq": pdq.to_dict() if pdq is not None else None}
