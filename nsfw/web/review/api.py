"""The review queue's API: list, read and decide items, export decisions (reviewers' Bearer tokens).

Reviewers send ``Authorization: Bearer <token>`` (a line of NSFW_REVIEWERS_FILE, from
``nsfw reviewer NAME``); without a valid one every route answers 401 ``not_reviewer``. These
routes are not behind the API keys or the rate limit: reviewers are their own, named, clients.
With NSFW_REVIEW=off there is no queue and every route answers 404 ``review_disabled``.

For other blueprints (the reviewer page): ``nsfw.web.current.review()`` is the one
``nsfw.review.service.Review`` of the app, :func:`reviewer` the name behind the request's token.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context
from werkzeug.exceptions import NotFound

from nsfw.errors import (
    InvalidCursor,
    InvalidDecision,
    InvalidRequest,
    InvalidReviewQuery,
    NotReviewer,
    ReviewDisabled,
    ReviewItemNotFound,
    ReviewUnavailable,
    UndoRefused,
)
from nsfw.protect import public
from nsfw.protect.keys import presented_key
from nsfw.review import ITEM_ID_RULE, MAX_ITEM_ID, DatabaseError
from nsfw.review import require as require_review_extra
from nsfw.verdict import DECISIONS, nsfw_score
from nsfw.web import current
from nsfw.web.current import review
from nsfw.web.openapi.spec import doc, json_response, query, ref

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__, url_prefix="/v1/review")

REVIEWER_SECURITY: list[dict[str, list[str]]] = [{"reviewer": []}]
EXPORT_FIELDS = (
    "id",
    "sha256",
    "model",
    "drawings",
    "hentai",
    "neutral",
    "porn",
    "sexy",
    "nsfw",
    "verdict",
    "decision",
    "decided_by",
    "decided_at",
    "first_seen",
    "last_seen",
    "seen_count",
)
# NotFound: a path whose id is not a number, or past MAX_ITEM_ID, matches no route (404 not_found)
ITEM_ID = {
    "in": "path",
    "name": "item_id",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ITEM_ID},
}
ACCESS_ERRORS = (ReviewDisabled, NotReviewer, ReviewUnavailable)


def init_app(app: Flask, settings) -> None:
    """The queue when NSFW_REVIEW is on (queueing hooked into the Detector); the routes always."""
    if settings.review != "off":
        require_review_extra()  # the 'review' extra, or a ConfigError that says so
        from nsfw.review.service import Review

        detector = current.detector(app)
        review_ = Review.from_settings(settings, detector.fetcher)
        if not len(review_.reviewers):
            log.warning("NSFW_REVIEW=%s but NSFW_REVIEWERS_FILE names no reviewer: nobody can decide", settings.review)
        current.set_review(app, review_)
        detector.observe(review_)
        detector.match_with(review_.known)  # reject lists before inference; decisions and lists in answers
    app.register_blueprint(bp)
    from nsfw.web.review import lists  # its views use this module's reviewer check

    app.register_blueprint(lists.bp)


def reviewer() -> str:
    """The reviewer's name for the request's ``Authorization: Bearer`` token, or NotReviewer."""
    authorization = request.headers.get("Authorization", "")
    token = presented_key({"Authorization": authorization}) if authorization else None
    name = review().reviewers.authenticate(token) if token else None
    if name is None:
        raise NotReviewer("a reviewer token is required: Authorization: Bearer <token>")
    return name


def _reviewed(view):
    """Review on, a reviewer's token, and a database error answered as 503 review_unavailable."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        name = reviewer()
        try:
            return view(name, *args, **kwargs)
        except DatabaseError as exc:
            log.warning("review API: the database failed (%s: %s)", type(exc).__name__, exc)
            raise ReviewUnavailable() from None

    return public(wrapper)  # reviewer tokens, not API keys nor the images' rate limit


reviewed = _reviewed  # for the other reviewer-token blueprints (hash lists)


def _item_json(item, with_history: bool = False) -> dict:
    fields = item.to_dict()
    if fields["has_thumbnail"] and review().listed(item):  # a reject list names it: never shown
        fields["has_thumbnail"] = False
    if with_history:
        fields["history"] = [decision.to_dict() for decision in review().history(item.id)]
    return fields


def _found(item_id: int):
    item = review().item(item_id)
    if item is None:
        raise ReviewItemNotFound()
    return item


@bp.get("/items")
@doc(
    "The review queue, a page at a time",
    parameters=[
        query("status", {"type": "string", "enum": ["pending", "decided"], "default": "pending"}, "which items"),
        query("order", {"type": "string", "enum": ["oldest", "most_seen"], "default": "oldest"}, "the order"),
        query("cursor", {"type": "string"}, "next_cursor of the previous page"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "items per page"),
    ],
    responses={200: json_response("items and the cursor of the next page (null: the last page)", ref("ReviewPage"))},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, InvalidCursor, InvalidReviewQuery),
)
@_reviewed
def items(name: str):
    """Keyset pagination: pass `next_cursor` back as `cursor` with the same `status` and `order`."""
    raw_limit = request.args.get("limit", "50")
    if not raw_limit.isascii() or not raw_limit.isdigit():
        raise InvalidReviewQuery("limit must be an integer between 1 and 200")
    page = review().items(
        status=request.args.get("status", "pending"),
        cursor=request.args.get("cursor") or None,
        limit=int(raw_limit),
        order=request.args.get("order", "oldest"),
    )
    return jsonify(items=[_item_json(item) for item in page.items], next_cursor=page.next_cursor)


@bp.get("/items/" + ITEM_ID_RULE)
@doc(
    "One item, with the history of its decisions",
    parameters=[ITEM_ID],
    responses={200: json_response("the item", ref("ReviewItemWithHistory"))},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, ReviewItemNotFound, NotFound),
)
@_reviewed
def item(name: str, item_id: int):
    return jsonify(_item_json(_found(item_id), with_history=True))


@bp.get("/items/" + ITEM_ID_RULE + "/thumbnail")
@doc(
    "The item's thumbnail",
    description="A JPEG of at most 160 px a side, made from the model's input. Gone after "
    "NSFW_REVIEW_RETENTION_DAYS (404 review_item_not_found).",
    parameters=[ITEM_ID],
    responses={200: {"description": "the JPEG", "content": {"image/jpeg": {}}}},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, ReviewItemNotFound, NotFound),
)
@_reviewed
def thumbnail(name: str, item_id: int):
    jpeg = review().thumbnail(item_id)
    if jpeg is None:
        raise ReviewItemNotFound("no thumbnail: no such item, or retention has deleted it")
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/items/" + ITEM_ID_RULE + "/decision")
@doc(
    "Decide an item: adult or safe (null: undo, back to pending)",
    description="Every later classification of the same image bytes answers this decision as its "
    '`verdict`, with `"decided_by": "review"`. A decision may be changed; each one is kept in '
    "the history with who made it and when. An undo (null) takes back only the caller's own latest "
    "decision: 409 undo_refused when another reviewer decided the item since.",
    parameters=[ITEM_ID],
    body={"required": True, "content": {"application/json": {"schema": ref("ReviewDecisionRequest")}}},
    responses={200: json_response("the item as decided", ref("ReviewItemWithHistory"))},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, ReviewItemNotFound, NotFound, InvalidDecision, InvalidRequest, UndoRefused),
)
@_reviewed
def decision(name: str, item_id: int):
    body = request.get_json(silent=True) if (request.mimetype or "") == "application/json" else None
    if not isinstance(body, dict) or "decision" not in body:
        raise InvalidRequest('send a JSON object: {"decision": "adult"} or {"decision": "safe"}')
    value = body["decision"]
    if value is None:
        decided = review().undecide(item_id, name)
    elif isinstance(value, str) and value in DECISIONS:
        decided = review().decide(item_id, value, name)
    else:
        raise InvalidDecision()
    return jsonify(_item_json(decided, with_history=True))


@bp.get("/export")
@doc(
    "Every decision with the model's scores, for audits and retraining",
    parameters=[query("format", {"type": "string", "enum": ["csv", "jsonl"], "default": "jsonl"}, "the format")],
    responses={
        200: {
            "description": "one line per decided item: " + ", ".join(EXPORT_FIELDS),
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        }
    },
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, InvalidReviewQuery),
)
@_reviewed
def export(name: str):
    fmt = request.args.get("format", "jsonl")
    if fmt not in ("csv", "jsonl"):
        raise InvalidReviewQuery("format must be csv or jsonl")
    records = review().decided()
    first = next(records, None)  # a database that fails, fails here: a 503, not a cut stream

    def rows():
        if first is None:
            return
        yield _export_row(first)
        for item in records:
            yield _export_row(item)

    if fmt == "jsonl":
        body = (json.dumps(row, separators=(",", ":")) + "\n" for row in rows())
        mimetype, extension = "application/x-ndjson", "jsonl"
    else:
        body = _csv(rows())
        mimetype, extension = "text/csv", "csv"
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="review-decisions.{extension}"'
    return response


def _export_row(item) -> dict:
    fields = item.to_dict()
    scores = item.scores
    row = {name: fields.get(name) for name in EXPORT_FIELDS}
    row.update({name: scores.get(name) for name in ("drawings", "hentai", "neutral", "porn", "sexy")})
    row["nsfw"] = nsfw_score(scores)
    return row


def _csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
        if out.tell() > 64 * 1024:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
