"""Security headers on every response, set in one place.

Every answer is ``nosniff``: a JSON error must never be sniffed into HTML. The HTML pages get a
Content-Security-Policy and may not be framed by anyone: ``/docs`` allows only this origin's
scripts and styles plus its own inline script (by its hash, see ``nsfw.web.openapi``); the page
at ``/`` (``nsfw.web.page``) has nothing inline at all, so it gets the strictest policy,
:data:`PAGE_POLICY`.
"""

from __future__ import annotations

from flask import Flask, Response


def html_policy(script_hashes: tuple[str, ...] = ()) -> str:
    """The CSP of an HTML page whose only inline scripts have these sha256 hashes (base64)."""
    scripts = " ".join(["'self'", *(f"'sha256-{h}'" for h in script_hashes)])
    return (
        "default-src 'none'; "
        f"script-src {scripts}; "
        "style-src 'self' 'unsafe-inline'; "  # Swagger UI sets style attributes
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


# GET /: scripts, styles and fetch() only from this origin, nothing inline. Images also from blob:
# (the preview of the chosen file, without uploading it twice) and data: (the empty favicon that
# keeps the browser from asking for /favicon.ico). No other origin is ever contacted.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _secure(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", html_policy())
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
