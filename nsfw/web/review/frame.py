"""GET /review, the reviewer page, and GET /review/calibration, what the decisions say about the thresholds.

(That first line is the blueprint's tag in the OpenAPI document.) This module holds what every
reviewer page shares: the blueprint, the page frame, the database guard, the pages' files. The
routes are in ``sign_in``, ``pages`` (the queue, deciding, undo, thumbnails) and
``calibration_page``; all register on this one blueprint, ``review_page``.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, session, url_for
from werkzeug.exceptions import NotFound

from nsfw.errors import ReviewDisabled, ReviewUnavailable
from nsfw.protect import public
from nsfw.review import DatabaseError
from nsfw.settings import Settings
from nsfw.web.assets import static_file
from nsfw.web.headers import PAGE_POLICY
from nsfw.web.openapi.spec import doc
from nsfw.web.review.session import PREFIX, SESSION_HOURS, reviewer

log = logging.getLogger(__name__)

bp = Blueprint("review_page", __name__, url_prefix=PREFIX, template_folder="templates")
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"review.js": "text/javascript", "review.css": "text/css", "base.css": "text/css"}

HTML = {"description": "a page", "content": {"text/html": {}}}
SEE_OTHER = {"description": "done: on to the page this names", "headers": {"Location": {"schema": {"type": "string"}}}}
SESSION_SECURITY: list[dict[str, list[str]]] = [
    {"reviewerSession": []}
]  # the cookie /review/sign-in sets (nsfw.web.openapi)
DATABASE_ERRORS = (ReviewDisabled, ReviewUnavailable)


def page_settings() -> Settings:
    return current_app.extensions["nsfw_review_page"]["settings"]


def database(view):
    """A database that fails is 503 review_unavailable, as in the review API, never a 500."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DatabaseError as exc:
            log.warning("review page: the database failed (%s: %s)", type(exc).__name__, exc)
            raise ReviewUnavailable() from None

    return wrapper


def render_page(template: str, status: int = 200, **context) -> Response:
    html = render_template(template, reviewer=reviewer(), csrf=session.get("csrf", ""), hours=SESSION_HOURS, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.cache_control.no_store = True  # pages about users' images stay out of caches
    return response


def see_other(endpoint: str, **values: Any) -> Response:
    return redirect(  # type: ignore[return-value]  # werkzeug's Response, which Flask's is
        url_for(endpoint, **{k: v for k, v in values.items() if v not in (None, "")}), code=303
    )


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
