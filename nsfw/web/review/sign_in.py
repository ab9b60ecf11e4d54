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
from nsfw.web.review.frame import HTML, SEE_OTHER, SESSION_SECURITY, bp, render_page, see_other

log = logging.getLogger(__name__)


@bp.get("/sign-in")
@doc("The reviewers' sign-in form", responses={200: HTML}, errors=(ReviewDisabled,))
@public  # reviewers have their own tokens (NSFW_REVIEWERS_FILE), not API keys
def sign_in_form():
    """A reviewer pastes their token (a line of NSFW_REVIEWERS_FILE is its digest); the answer sets the cookie."""
    return render_page("review/sign_in.html", configured=len(review().reviewers) > 0)


@bp.post("/sign-in")
@doc(
    "Sign in with a reviewer token",
    body={
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]}
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
    errors=(CSRFFailed, ReviewDisabled),
)
@public
def sign_in():
    """A valid token starts a session (a new CSRF token, an empty undo list); a wrong one gets the form again."""
    reviewers = review().reviewers
    review_session.check_same_site()
    token = request.form.get("token", "").strip()
    name = reviewers.authenticate(token) if token else None
    if name is None:
        session.clear()
        log.warning("review sign-in refused")
        response = render_page("review/sign_in.html", status=401, configured=len(reviewers) > 0, failed=True)
        response.headers.update(SignInRequired.headers)
        return response
    session.clear()
    session.permanent = True
    session.update(reviewer=name, since=int(time.time()), csrf=secrets.token_urlsafe(32), undo=[])
    log.info("reviewer %s signed in", name)
    return see_other("review_page.queue")


@bp.post("/sign-out")
@doc("End the reviewer session", responses={303: SEE_OTHER}, errors=(CSRFFailed,), security=SESSION_SECURITY)
@public
def sign_out():
    """Clears the session cookie; the next visit asks for the token again."""
    review_session.check_form()
    session.clear()
    return see_other("review_page.sign_in_form")
