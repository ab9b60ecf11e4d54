"""The reviewer pages' session: who is signed in, and whether a form post may change anything.

A browser cannot send a Bearer header when it navigates, so reviewers sign in once with their
token and get Flask's signed session cookie (NSFW_SECRET_KEY): ``HttpOnly``, ``SameSite=Strict``,
``Secure`` on https, scoped to ``/review``, holding the reviewer's name, a CSRF token and the
decisions made in it (for undo), never the token itself. A sign-in lasts at most
:data:`SESSION_HOURS` hours, and only while the server holds it (``nsfw.review.sessions``): the
cookie's session secret names a row of the review database that sign-out deletes, so a copy of the
cookie saved before sign-out opens nothing, and neither does one of a reviewer removed from the file.
Every state-changing request is a POST carrying the session's CSRF
token, refused when the browser says it comes from another site (``Sec-Fetch-Site``); the sign-in
form too, with a token the cookie holds before sign-in.
"""

from __future__ import annotations

import datetime
import hmac
import ipaddress
import secrets
import time

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface

from nsfw.errors import CSRFFailed, SignInRequired
from nsfw.settings import Settings
from nsfw.web.current import review

PREFIX = "/review"  # the pages' URL prefix; the cookie is never sent elsewhere
SESSION_HOURS = 12  # a sign-in ends this long after it was made, whatever happens in between


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, Secure exactly when the browser talks https to us (or to a trusted proxy)."""

    def __init__(self, trusted_proxies: tuple):
        self.trusted = trusted_proxies

    def get_cookie_secure(self, app: Flask) -> bool:
        if request.is_secure:
            return True
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return forwarded == "https" and _from_trusted_proxy(self.trusted)

    def get_cookie_path(self, app: Flask) -> str:
        return (request.script_root or "") + PREFIX  # never sent to the API routes


def _from_trusted_proxy(trusted: tuple) -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in net for net in trusted)


def init_app(app: Flask, settings: Settings) -> None:
    """The session cookie's settings and signing key; the blueprint is registered by the caller."""
    secret = settings.secret_key
    if not secret:
        # Outside gunicorn (tests, a Python shell) or when the operator runs without one: this
        # process's own key. Under gunicorn the master has already put a shared one in the
        # environment (nsfw/server/gunicorn_conf.py), so every worker of the instance agrees.
        secret = secrets.token_urlsafe(32)
    app.secret_key = secret
    app.session_interface = _SessionInterface(settings.trusted_proxies)
    app.config.update(
        SESSION_COOKIE_NAME="nsfw_review",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=SESSION_HOURS),
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.extensions["nsfw_review_page"] = {"settings": settings}


def reviewer() -> str | None:
    """The signed-in reviewer of this request, or None (no session, an expired one, another key's, one
    signed out or revoked on the server); the server is asked once per request."""
    if "nsfw_reviewer" not in g:
        g.nsfw_reviewer = _reviewer()
    return g.nsfw_reviewer


def _reviewer() -> str | None:
    name = session.get("reviewer")
    started = session.get("since", 0)
    secret = session.get("sid")
    if not name or not isinstance(started, int | float) or time.time() - started > SESSION_HOURS * 3600:
        return None
    if not isinstance(secret, str) or review().session_reviewer(secret) != name:
        return None
    return name


def lifetime() -> datetime.timedelta:
    return datetime.timedelta(hours=SESSION_HOURS)


def require_reviewer() -> str:
    name = reviewer()
    if name is None:
        raise SignInRequired()
    return name


def check_form() -> None:
    """The POST comes from this session's review page: same site, and its CSRF token."""
    check_same_site()
    expected = session.get("csrf", "")
    given = request.form.get("csrf", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CSRFFailed()


def sign_in_csrf() -> str:
    """The CSRF token of the sign-in form: kept in the session cookie before anyone signs in, so a
    sign-in posted from another site (login CSRF: the victim signed in as the attacker) is refused
    even by a browser that sends no Sec-Fetch-Site."""
    if not session.get("csrf"):
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_same_site() -> None:
    # Sec-Fetch-Site is set by the browser itself (a page cannot forge it); old browsers omit it,
    # and then the SameSite=Strict cookie and the CSRF token still hold.
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise CSRFFailed("a form on another site may not post to the review page")
