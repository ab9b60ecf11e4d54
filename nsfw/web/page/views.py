"""GET /: a page to try the service in a browser, its script and style at GET /assets/<asset>.

The page is a client of the public API like any other: its script sends ``POST /v1/classify``
with fetch(), so a person sees the scores, verdicts and errors (code and message) exactly as
the API answers them, including ``401 unauthorized`` when the service wants an API key.

Nothing in it is inline and nothing comes from elsewhere: the three files in ``static/`` ship
in the package and are served from this origin, so the page gets the strictest policy
(``nsfw.web.headers.PAGE_POLICY``) and works offline. No framework, no build step.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint
from werkzeug.exceptions import NotFound

from nsfw.protect import public
from nsfw.web.assets import static_file
from nsfw.web.headers import PAGE_POLICY
from nsfw.web.openapi.spec import doc

bp = Blueprint("page", __name__)

STATIC = Path(__file__).resolve().parent / "static"
# What GET /assets/<asset> serves (base.css is shared with the review pages).
ASSETS = {"page.js": "text/javascript", "page.css": "text/css", "base.css": "text/css"}


@bp.get("/")
@doc("A page to try the API in a browser", responses={200: {"description": "a page", "content": {"text/html": {}}}})
def index():
    """Drop, choose or paste an image, or give a URL; the page shows what POST /v1/classify answers."""
    response = static_file(STATIC, "index.html", "text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


@bp.get("/assets/<asset>")
@doc(
    "A file of the page at /",
    parameters=[{"in": "path", "name": "asset", "required": True, "schema": {"enum": sorted(ASSETS)}}],
    responses={200: {"description": "the file", "content": {kind: {} for kind in sorted(set(ASSETS.values()))}}},
    errors=(NotFound,),
)
@public  # the page must load before anyone types a key into it
def asset(asset: str):
    """The page's script and style sheet, shipped in the package."""
    if asset not in ASSETS:
        raise NotFound()
    return static_file(STATIC, asset, ASSETS[asset])
