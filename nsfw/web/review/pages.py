"""GET /review, the reviewer page, and GET /review/calibration, what the decisions say about the thresholds.

Reviewers sign in once with their token and get a session cookie; every form post is checked
against the session's CSRF token and the browser's Sec-Fetch-Site (``nsfw.web.review_session``).
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
import functools
import logging
import re
import secrets
import time
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import NotFound

from nsfw.errors import (
    CSRFFailed,
    InvalidCursor,
    InvalidDecision,
    InvalidReviewQuery,
    NothingToUndo,
    NotReviewer,
    ReviewDisabled,
    ReviewItemNotFound,
    ReviewUnavailable,
    SignInRequired,
    UndoRefused,
)
from nsfw.protect import public
from nsfw.review import ITEM_ID_RULE, DatabaseError, calibration, calibration_plot
from nsfw.settings import Settings
from nsfw.verdict import NSFW_CLASSES, Thresholds, nsfw_score
from nsfw.web.assets import static_file
from nsfw.web.current import review
from nsfw.web.headers import PAGE_POLICY
from nsfw.web.openapi.spec import doc, query
from nsfw.web.review import api as review_api
from nsfw.web.review import session as review_session
from nsfw.web.review.session import PREFIX, SESSION_HOURS, reviewer

log = logging.getLogger(__name__)

bp = Blueprint("review_page", __name__, url_prefix=PREFIX, template_folder="templates")
STATIC = Path(__file__).resolve().parent / "static"

ASSETS = {"review.js": "text/javascript", "review.css": "text/css", "base.css": "text/css"}
UNDO_DEPTH = 50  # decisions of a session that `u` can take back, newest first
ORDERS = {"oldest": "oldest first", "most_seen": "most seen first"}
CLASSES = ("drawings", "hentai", "neutral", "porn", "sexy")


def _settings() -> Settings:
    return current_app.extensions["nsfw_review_page"]["settings"]


def _database(view):
    """A database that fails is 503 review_unavailable, as in the review API, never a 500."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DatabaseError as exc:
            log.warning("review page: the database failed (%s: %s)", type(exc).__name__, exc)
            raise ReviewUnavailable() from None

    return wrapper


def _page(template: str, status: int = 200, **context) -> Response:
    html = render_template(template, reviewer=reviewer(), csrf=session.get("csrf", ""), hours=SESSION_HOURS, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.cache_control.no_store = True  # pages about users' images stay out of caches
    return response


def _see_other(endpoint: str, **values) -> Response:
    return redirect(url_for(endpoint, **{k: v for k, v in values.items() if v not in (None, "")}), code=303)


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


HTML = {"description": "a page", "content": {"text/html": {}}}
SEE_OTHER = {"description": "done: on to the page this names", "headers": {"Location": {"schema": {"type": "string"}}}}
ORDER_PARAM = query("order", {"enum": sorted(ORDERS)}, "which pending item first: the oldest, or the most seen")
SESSION_SECURITY = [{"reviewerSession": []}]  # the cookie /review/sign-in sets (nsfw.web.openapi)
DATABASE_ERRORS = (ReviewDisabled, ReviewUnavailable)
ITEM_ERRORS = (ReviewItemNotFound, NotFound)  # NotFound: an id that is not a number matches no route
ITEM_ID = review_api.ITEM_ID
CURSOR_PARAM = query("cursor", {"type": "string"}, "where in the queue to go on (from the page's Skip)")


# --- sign-in -----------------------------------------------------------------------------
@bp.get("/sign-in")
@doc("The reviewers' sign-in form", responses={200: HTML}, errors=(ReviewDisabled,))
@public  # reviewers have their own tokens (NSFW_REVIEWERS_FILE), not API keys
def sign_in_form():
    """A reviewer pastes their token (a line of NSFW_REVIEWERS_FILE is its digest); the answer sets the cookie.
    The form carries a CSRF token held in the (still anonymous) session, as the decision forms do."""
    review_session.sign_in_csrf()
    return _page("review/sign_in.html", configured=len(review().reviewers) > 0)


@bp.post("/sign-in")
@doc(
    "Sign in with a reviewer token",
    body={
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"token": {"type": "string"}, "csrf": {"type": "string"}},
                    "required": ["token", "csrf"],
                }
            }
        },
    },
    responses={
        303: SEE_OTHER,
        401: {
            "description": "not a reviewer's token: the form again",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            **HTML,
        },
    },
    errors=(CSRFFailed, *DATABASE_ERRORS),
)
@public
@_database
def sign_in():
    """A valid token starts a session (a new CSRF token, an empty undo list); a wrong one gets the form again.
    The form's CSRF token is required (403 csrf_failed without it): a sign-in is never forced from elsewhere."""
    reviewers = review().reviewers
    review_session.check_form()  # the form this browser was given: no other site can sign it in
    token = request.form.get("token", "").strip()
    signed_in = review().sign_in(token, review_session.lifetime()) if token else None
    if signed_in is None:
        session.clear()
        review_session.sign_in_csrf()
        log.warning("review sign-in refused")
        response = _page("review/sign_in.html", status=401, configured=len(reviewers) > 0, failed=True)
        response.headers.update(SignInRequired.headers)
        return response
    name, secret = signed_in
    session.clear()
    session.permanent = True
    session.update(reviewer=name, sid=secret, since=int(time.time()), csrf=secrets.token_urlsafe(32), undo=[])
    log.info("reviewer %s signed in", name)
    return _see_other("review_page.queue")


@bp.post("/sign-out")
@doc(
    "End the reviewer session, on the server too",
    responses={303: SEE_OTHER},
    errors=(CSRFFailed, *DATABASE_ERRORS),
    security=SESSION_SECURITY,
)
@public
@_database
def sign_out():
    """Ends the session on the server (every copy of its cookie) and clears the cookie."""
    review_session.check_form()
    secret = session.get("sid")
    if isinstance(secret, str):
        review().sign_out(secret)
    session.clear()
    return _see_other("review_page.sign_in_form")


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
@_database
def queue():
    """The next pending item: its thumbnail (blurred until revealed), five scores, sources, how often and when
    it was seen; decide adult or safe, skip it, or undo the last decision of this session."""
    name = reviewer()
    if name is None:
        return _see_other("review_page.sign_in_form")
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
    return _page(
        "review/queue.html",
        item=item,
        view=_item_view(item) if item else None,
        order=order,
        orders=ORDERS,
        cursor=cursor,
        can_skip=can_skip,
        skip_cursor=skip_cursor,
        last=undo[-1] if undo else None,
    )


def _item_view(item) -> dict:
    scores = dict(item.scores or {})
    names = [c for c in CLASSES if c in scores] + sorted(set(scores) - set(CLASSES))
    return {
        "scores": [(n, float(scores[n]), n in NSFW_CLASSES) for n in names],
        "nsfw": nsfw_score(scores),
        "first_seen": _when(item.first_seen),
        "last_seen": _when(item.last_seen),
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
                        "decision": {"enum": ["adult", "safe"]},
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
@_database
def decide(item_id: int):
    """Records the decision with the signed-in reviewer's name; back to the page, on to the next item.
    Scripts use ``POST /v1/review/items/{id}/decision`` with a Bearer token instead."""
    name = review_session.require_reviewer()
    review_session.check_form()
    decision = request.form.get("decision", "")
    if decision not in calibration.DECISIONS:
        raise InvalidDecision()
    order = _order(request.form.get("order"))
    queue = review()
    if queue.item(item_id) is None:
        raise ReviewItemNotFound()
    queue.decide(item_id, decision, name)  # the review service: the webhook hears of it too
    session["undo"] = [*(session.get("undo") or []), [item_id, decision]][-UNDO_DEPTH:]
    return _see_other("review_page.queue", order=order, cursor=request.form.get("cursor"))


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
@_database
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
    return _see_other("review_page.queue", order=order, item=item_id)


@bp.get("/items/" + ITEM_ID_RULE + "/thumbnail")
@doc(
    "An item's thumbnail, for signed-in reviewers only",
    parameters=[ITEM_ID],
    responses={200: {"description": "a small JPEG", "content": {"image/jpeg": {}}}},
    errors=(SignInRequired, *ITEM_ERRORS, *DATABASE_ERRORS),
    security=SESSION_SECURITY,
)
@public
@_database
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


# --- calibration ---------------------------------------------------------------------------
FORMATS = ("html", "json", "png")


@bp.get("/calibration")
@doc(
    "What the decisions say about NSFW_ADULT_THRESHOLD and NSFW_SAFE_THRESHOLD",
    parameters=[
        query("target", {"type": "number", "minimum": 0.5, "maximum": 1}, "precision to reach (default 0.95)"),
        query("format", {"enum": list(FORMATS)}, "html (default: a page), json (for scripts) or png (the plot)"),
    ],
    responses={
        200: {
            "description": "the counts, the suggestion and the plot",
            "content": {"text/html": {}, "application/json": {"schema": {"type": "object"}}, "image/png": {}},
        },
        303: {"description": "not signed in: the sign-in form", **SEE_OTHER},
    },
    errors=(
        calibration.InvalidTarget,
        InvalidReviewQuery,
        SignInRequired,
        calibration_plot.PlotUnavailable,
        NotReviewer,
        *DATABASE_ERRORS,
    ),
    security=[*SESSION_SECURITY, {"reviewer": []}],
)
@public
@_database
def calibration_view():
    """For each threshold, how many decided items the model alone would have called right; the thresholds that
    reach the target precision with the fewest items left for review; the plot. Reviewers only: the page's
    session, or (scripts) a reviewer's `Authorization: Bearer` token."""
    fmt = request.args.get("format") or "html"
    if fmt not in FORMATS:
        raise InvalidReviewQuery(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if request.headers.get("Authorization"):
        review_api.reviewer()  # a script with a reviewer's token, as for /v1/review/*; else 401 not_reviewer
    elif reviewer() is None:
        if fmt == "html":
            return _see_other("review_page.sign_in_form")
        raise SignInRequired()
    target = calibration.parse_target(request.args.get("target"))
    settings = _settings()
    current = Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)
    result = calibration.calibrate(
        (calibration.Decided.from_scores(*row) for row in review().decided_scores()), current, target
    )
    if fmt == "json":
        response = jsonify(result.to_dict())
    elif fmt == "png":
        response = Response(calibration_plot.png(result), mimetype="image/png")
        response.set_etag(result.version)
    else:
        return _page(
            "review/calibration.html",
            c=result,
            plot=calibration_plot.available(),
            extra=calibration_plot.EXTRA,
            review_mode=settings.review,
            table=calibration.table(result, current),
        )
    response.cache_control.no_store = True
    return response


# --- the page's files ----------------------------------------------------------------------
@bp.get("/assets/<asset>")
@doc(
    "A file of the review pages",
    parameters=[{"in": "path", "name": "asset", "required": True, "schema": {"enum": sorted(ASSETS)}}],
    responses={200: {"description": "the file", "content": {kind: {} for kind in sorted(set(ASSETS.values()))}}},
    errors=(NotFound,),
)
@public  # the sign-in page needs its style before anyone has signed in
def asset(asset: str):
    """The review pages' script and style sheet, shipped in the package."""
    if asset not in ASSETS:
        raise NotFound()
    return static_file(STATIC, asset, ASSETS[asset])
