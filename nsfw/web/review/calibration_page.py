"""GET /review/calibration: what the reviewers' decisions say about the two thresholds.

For reviewers only (the page's session, or a reviewer's Bearer token for scripts): the counts,
the thresholds that reach a target precision with the fewest items left for review
(``nsfw.review.calibration``), and the plot (``nsfw.review.calibration_plot``), as a page, JSON
or PNG.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from nsfw.errors import InvalidReviewQuery, InvalidTarget, NotReviewer, PlotUnavailable, SignInRequired
from nsfw.protect import public
from nsfw.review import calibration, calibration_plot, calibration_result
from nsfw.verdict import Thresholds
from nsfw.web.current import review
from nsfw.web.openapi.spec import doc, query
from nsfw.web.review import api as review_api
from nsfw.web.review.frame import (
    DATABASE_ERRORS,
    SEE_OTHER,
    SESSION_SECURITY,
    bp,
    database,
    page_settings,
    render_page,
    see_other,
)
from nsfw.web.review.session import reviewer

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
        InvalidTarget,
        InvalidReviewQuery,
        SignInRequired,
        PlotUnavailable,
        NotReviewer,
        *DATABASE_ERRORS,
    ),
    security=[*SESSION_SECURITY, {"reviewer": []}],
)
@public
@database
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
            return see_other("review_page.sign_in_form")
        raise SignInRequired()
    target = calibration.parse_target(request.args.get("target"))
    settings = page_settings()
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
        return render_page(
            "review/calibration.html",
            c=result,
            plot=calibration_plot.available(),
            extra=calibration_plot.EXTRA,
            review_mode=settings.review,
            table=calibration_result.table(result, current),
        )
    response.cache_control.no_store = True
    return response
