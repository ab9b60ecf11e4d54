"""Hash lists' admin API under ``/v1/lists``: import (replace), export, list and remove named lists.

Authenticated with the reviewers' tokens (``Authorization: Bearer``, a line of NSFW_REVIEWERS_FILE),
like the rest of the review API, and on only with NSFW_REVIEW on (404 ``review_disabled`` when off).
A body is checked whole before anything is written, and written in one transaction: a bad line
answers 400 ``invalid_hash_list`` naming it, and the list stays as it was. Every worker of every
instance sees a change within NSFW_MATCH_REFRESH_S. Lists larger than NSFW_MAX_REQUEST_BYTES go in
with ``nsfw hashes import``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from werkzeug.exceptions import NotFound

from nsfw.errors import HashListNotFound, InvalidHashList
from nsfw.known import hashes
from nsfw.web.current import review
from nsfw.web.openapi.error_groups import BODY_TOO_LARGE
from nsfw.web.openapi.spec import doc, json_response, query, ref
from nsfw.web.review.api import ACCESS_ERRORS, REVIEWER_SECURITY, reviewed

bp = Blueprint("lists", __name__, url_prefix="/v1/lists")

NAME = {"in": "path", "name": "name", "required": True, "schema": {"type": "string", "pattern": hashes.NAME.pattern}}
FILE_TYPES = {"text/plain": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}}


@bp.get("")
@doc(
    "Every hash list: its action and how many hashes it holds",
    responses={200: json_response("the lists, by name", ref("HashLists"))},
    security=REVIEWER_SECURITY,
    errors=ACCESS_ERRORS,
)
@reviewed
def lists(reviewer: str):
    return jsonify(lists=[info.to_dict() for info in review().lists.lists()])


@bp.put("/<name>")
@doc(
    "Create a hash list, or replace its action and every hash",
    description="The body is one PDQ hash (64 hex digits) per line, or CSV/TSV with a header naming a "
    "`pdq` column (ThreatExchange and Hasher-Matcher-Actioner exports), optional `distance` (that row's own "
    "match distance) and `quality`. `action`: `adult` or `safe` set the verdict, `reject` answers "
    "403 `listed_content` without classifying. All or nothing: a bad line changes nothing.",
    parameters=[NAME, query("action", {"type": "string", "enum": list(hashes.ACTIONS)}, "what a match does")],
    body={"required": True, "content": FILE_TYPES},
    responses={200: json_response("the list as imported", ref("HashList"))},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, InvalidHashList, BODY_TOO_LARGE),
)
@reviewed
def put(reviewer: str, name: str):
    hashes.check_name(name)
    action = hashes.check_action(request.args.get("action", ""))
    try:
        text = request.get_data(cache=False).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidHashList("the body is not UTF-8 text") from None
    entries = hashes.read(text)
    return jsonify(review().lists.replace(name, action, entries).to_dict())


@bp.get("/<name>")
@doc(
    "Export a hash list as CSV (pdq,distance,quality), as PUT takes it back",
    parameters=[NAME],
    responses={200: {"description": "the list's hashes", "content": {"text/csv": {}}}},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, HashListNotFound, NotFound),
)
@reviewed
def export(reviewer: str, name: str):
    store = review().lists
    store.get(name)  # 404 before the stream starts
    body = hashes.write(store.entries(name))
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@bp.delete("/<name>")
@doc(
    "Remove a hash list",
    parameters=[NAME],
    responses={204: {"description": "removed"}},
    security=REVIEWER_SECURITY,
    errors=(*ACCESS_ERRORS, HashListNotFound, NotFound),
)
@reviewed
def remove(reviewer: str, name: str):
    review().lists.remove(name)
    return Response(status=204)
