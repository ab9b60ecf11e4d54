"""GET /review, the reviewer page: the queue, deciding, undo, thumbnails (sign-in and calibration: beside it).

Reviewers sign in once with their token and get a session cookie; every form post is checked
against the session's CSRF token and the browser's Sec-Fetch-Site (``nsfw.web.review.session``).
The thumbnails are served only to a signed-in reviewer, with ``Cache-Control: no-store`` (a
reviewer's browser keeps no copy of users' images).

The pages are rendered on the server (Jinja templates in ``templates/review/``) and use one
script and one style sheet from ``static/`` served by this blueprint: nothing inline, nothing from
elsewhere, the same strict policy as the page at ``/`` (``nsfw.web.headers.PAGE_POLICY``). Deciding
works without JavaScript (real forms and buttons); the script adds the keyboard (``a`` adult,
``s`` safe, ``k`` skip, ``u`` undo, ``r`` reveal) and the click that unblurs a thumbnail.
"""

from __future__ import annotations

import datetime
import logging
import re

from flask import Response, request, session
from werkzeug.exceptions import NotFound

from nsfw.errors import (
    CSRFFailed,
    InvalidCursor,
    InvalidDecision,
    InvalidReviewQuery,
    NothingToUndo,
    ReviewDisabled,
    ReviewItemNotFound,
    ReviewUnavailable,
    SignInRequired,
    UndoRefused,
)
from nsfw.imaging.pdq import Pdq
from nsfw.protect import public
from nsfw.review import ITEM_ID_RULE
from nsfw.verdict import DECISIONS, NSFW_CLASSES, nsfw_score
from nsfw.web.current import review
from nsfw.web.openapi.spec import doc, query
from nsfw.web.review import api as review_api
from nsfw.web.review import session as review_session
from nsfw.web.review.frame import (
    DATABASE_ERRORS,
    HTML,
    SEE_OTHER,
    SESSION_SECURITY,
    bp,
    database,
    render_page,
    see_other,
)
from nsfw.web.review.session import reviewer

log = logging.getLogger(__name__)

UNDO_DEPTH = 50  # decisions of a session that `u` can take back, newest first
ORDERS = {"oldest": "oldest first", "most_seen": "most seen first"}
CLASSES = ("drawings", "hentai", "neutral", "porn", "sexy")


def _order(value: str | None) -> str:
    value = value or "oldest"
    if value not in ORDERS:
        raise InvalidReviewQuery(f"order must be one of {', '.join(ORDERS)}, got {value!r}")
    return value


def _item_id(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not re.fullmatch(r"[0-9]{1,18}", value):  # ASCII digits only: str.isdigit() takes "²" too
        raise InvalidReviewQuery(f"item must be a positive integer, got {value!r}")
    return int(value)


ORDER_PARAM = query("order", {"enum": sorted(ORDERS)}, "which pending item first: the oldest, or the most seen")
ITEM_ERRORS = (ReviewItemNotFound, NotFound)  # NotFound: an id that is not a number matches no route
ITEM_ID = review_api.ITEM_ID
CURSOR_PARAM = query("cursor", {"type": "string"}, "where in the queue to go on (from the page's Skip)")


# --- the queue ---------------------------------------------------------------------------
@bp.get("")
@doc(
    "The reviewer page: one pending item at a time",
    parameters=[
        ORDER_PARAM,
        CURSOR_PARAM,
        query("item", {"type": "string", "pattern": "^[0-9]+$"}, "show this item first (after an undo)"),
    ],
    responses={200: HTML, 303: {"description": "not signed in: the sign-in form", **SEE_OTHER}},
    errors=(InvalidReviewQuery, InvalidCursor, ReviewDisabled, ReviewUnavailable),
    security=SESSION_SECURITY,
)
@public
@database
def queue():
    """The next pending item: its thumbnail (blurred until revealed), five scores, sources, how often and when
    it was seen; decide adult or safe, skip it, or undo the last decision of this session."""
    name = reviewer()
    if name is None:
        return see_other("review_page.sign_in_form")
    order = _order(request.args.get("order"))
    cursor = request.args.get("cursor") or None
    wanted = _item_id(request.args.get("item"))
    queue = review()
    item = queue.item(wanted) if wanted is not None else None
    if item is not None:  # shown out of turn: skipping it goes back to where the queue was
        can_skip, skip_cursor = True, cursor
    else:
        page = queue.items(status="pending", cursor=cursor, limit=1, order=order)
        item = page.items[0] if page.items else None
        can_skip, skip_cursor = page.next_cursor is not None, page.next_cursor
    undo = session.get("undo") or []
    return render_page(
        "review/queue.html",
        item=item,
        view=_item_view(item, queue) if item else None,
        order=order,
        orders=ORDERS,
        cursor=cursor,
        can_skip=can_skip,
        skip_cursor=skip_cursor,
        last=undo[-1] if undo else None,
    )


def _item_view(item, queue) -> dict:
    """What the page shows of an item; ``listed`` (a reject list names its hash) hides its thumbnail, and
    ``match`` is the decided item or list its hash is near, when it does not already follow one."""
    scores = dict(item.scores or {})
    names = [c for c in CLASSES if c in scores] + sorted(set(scores) - set(CLASSES))
    listed = queue.listed(item)
    match = None
    if item.pdq is not None and item.pdq_quality is not None and item.follows is None and not listed:
        match = queue.known.match(Pdq(item.pdq, item.pdq_quality))
        if match is not None and match.item == item.id:
            match = None  # its own decision
    return {
        "scores": [(n, float(scores[n]), n in NSFW_CLASSES) for n in names],
        "nsfw": nsfw_score(scores),
        "first_seen": _when(item.first_seen),
        "last_seen": _when(item.last_seen),
        "listed": listed,
        "match": match,
    }


def _when(value) -> tuple[str, str]:
    """(machine-readable ISO 8601, what a person reads), from a datetime or a Unix time."""
    if value is None:
        return "", "unknown"
    if isinstance(value, int | float):
        value = datetime.datetime.fromtimestamp(value, datetime.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    value = value.astimezone(datetime.UTC)
    return value.isoformat(timespec="seconds"), value.strftime("%Y-%m-%d %H:%M UTC")


@bp.post("/items/" + ITEM_ID_RULE + "/decision")
@doc(
    "Decide an item from the page (form post with the session's CSRF token)",
    parameters=[ITEM_ID],
    body={
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "decision": {"enum": [d.value for d in DECISIONS]},
                        "csrf": {"type": "string"},
                        "order": {"enum": sorted(ORDERS)},
                        "cursor": {"type": "string"},
                    },
                    "required": ["decision", "csrf"],
                }
            }
        },
    },
    responses={303: SEE_OTHER},
    errors=(InvalidDecision, InvalidReviewQuery, SignInRequired, CSRFFailed, *ITEM_ERRORS, *DATABASE_ERRORS),
    security=SESSION_SECURITY,
)
@public
@database
def decide(item_id: int):
    """Records the decision with the signed-in reviewer's name; back to the page, on to the next item.
    Scripts use ``POST /v1/review/items/{id}/decision`` with a Bearer token instead."""
    name = review_session.require_reviewer()
    review_session.check_form()
    decision = request.form.get("decision", "")
    if decision not in DECISIONS:
        raise InvalidDecision()
    order = _order(request.form.get("order"))
    queue = review()
    if queue.item(item_id) is None:
        raise ReviewItemNotFound()
    queue.decide(item_id, decision, name)  # the review service: the webhook hears of it too
    session["undo"] = [*(session.get("undo") or []), [item_id, decision]][-UNDO_DEPTH:]
    return see_other("review_page.queue", order=order, cursor=request.form.get("cursor"))


@bp.post("/undo")
@doc(
    "Undo this session's last decision: the item goes back to pending",
    body={
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"csrf": {"type": "string"}, "order": {"enum": sorted(ORDERS)}},
                    "required": ["csrf"],
                }
            }
        },
    },
    responses={303: SEE_OTHER},
    errors=(InvalidReviewQuery, SignInRequired, CSRFFailed, NothingToUndo, UndoRefused, *DATABASE_ERRORS),
    security=SESSION_SECURITY,
)
@public
@database
def undo():
    """The item of the newest decision of this session is pending again (the history keeps both) and shown next.
    Refused (409 undo_refused, and that decision leaves the session's list) when another reviewer decided
    the item since: an undo takes back only the reviewer's own latest decision."""
    name = review_session.require_reviewer()
    review_session.check_form()
    order = _order(request.form.get("order"))
    stack = list(session.get("undo") or [])
    if not stack:
        raise NothingToUndo()
    item_id, _ = stack.pop()
    session["undo"] = stack
    queue = review()
    if queue.item(item_id) is not None:  # gone to retention meanwhile: nothing to take back
        queue.undecide(item_id, name)
    return see_other("review_page.queue", order=order, item=item_id)


@bp.get("/items/" + ITEM_ID_RULE + "/thumbnail")
@doc(
    "An item's thumbnail, for signed-in reviewers only",
    parameters=[ITEM_ID],
    responses={200: {"description": "a small JPEG", "content": {"image/jpeg": {}}}},
    errors=(SignInRequired, *ITEM_ERRORS, *DATABASE_ERRORS),
    security=SESSION_SECURITY,
)
@public
@database
def thumbnail(item_id: int):
    """Never public and never cached: users' images stay on the server."""
    review_session.require_reviewer()
    data = review().thumbnail(item_id)
    if data is None:
        raise ReviewItemNotFound("this item has no thumbnail (never kept, or removed by retention)")
    response = Response(data, mimetype="image/jpeg")
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response
