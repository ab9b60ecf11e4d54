"""GET and POST /review/sign-in, POST /review/sign-out: a reviewer's token becomes a session cookie.

The token is checked once, here; the session then carries the reviewer's name, a CSRF token for
every form of the pages and the list of decisions ``u`` may undo (``nsfw.web.review.session``).
"""

from __future__ import annotations

import logging
import secrets
import time

from flask import request, session

from nsfw.errors import CSRFFailed, ReviewDisabled, SignInRequired
from nsfw.protect import public
from nsfw.web.current import review
from nsfw.web.openapi.spec import doc
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

log = logging.getLogger(__name__)


@bp.get("/sign-in")
@doc("The reviewers' sign-in form", responses={200: HTML}, errors=(ReviewDisabled,))
@public  # reviewers have their own tokens (NSFW_REVIEWERS_FILE), not API keys
def sign_in_form():
    """A reviewer pastes their token (a line of NSFW_REVIEWERS_FILE is its digest); the answer sets the cookie.
    The form carries a CSRF token held in the (still anonymous) session, as the decision forms do."""
    review_session.sign_in_csrf()
    return render_page("review/sign_in.html", configured=len(review().reviewers) > 0)


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
@database
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
        response = render_page("review/sign_in.html", status=401, configured=len(reviewers) > 0, failed=True)
        response.headers.update(SignInRequired.headers)
        return response
    name, secret = signed_in
    session.clear()
    session.permanent = True
    session.update(reviewer=name, sid=secret, since=int(time.time()), csrf=secrets.token_urlsafe(32), undo=[])
    log.info("reviewer %s signed in", name)
    return see_other("review_page.queue")


@bp.post("/sign-out")
@doc(
    "End the reviewer session, on the server too",
    responses={303: SEE_OTHER},
    errors=(CSRFFailed, *DATABASE_ERRORS),
    security=SESSION_SECURITY,
)
@public
@database
def sign_out():
    """Ends the session on the server (every copy of its cookie) and clears the cookie."""
    review_session.check_form()
    secret = session.get("sid")
    if isinstance(secret, str):
        review().sign_out(secret)
    session.clear()
    return see_other("review_page.sign_in_form")
