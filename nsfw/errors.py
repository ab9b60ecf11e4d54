"""Every typed failure a caller can be answered with, and the command line's one ``UsageError``.

Each stage raises the error it knows about, but every ``ServiceError`` class lives here,
grouped by the stage that raises it: this module is the catalogue of stable ``code``s
(the OpenAPI document enumerates them from here). The HTTP layer turns every one into the
same JSON shape in one place (nsfw/web/error_handlers.py), so a caller always gets a stable
``code`` and the right status, never an HTML page; the CLI writes the same ``code`` in a
failed record.
"""

from __future__ import annotations

from collections.abc import Mapping

from nsfw.extras import hint


class ServiceError(Exception):
    """Base class: a failure with a stable machine-readable code and an HTTP status."""

    status = 500
    code = "internal_error"
    default_message = "internal error"
    retry_after: int | None = None  # seconds, for a Retry-After header
    headers: Mapping[str, str] = {}  # fixed response headers this failure always carries

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)

    def details(self) -> dict:
        """Fields this failure adds to its JSON beside code and message (``listed_content``'s match)."""
        return {}

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **self.details()}


# --- the request itself ----------------------------------------------------
class MissingURL(ServiceError):
    status, code, default_message = 400, "missing_url", "no image given: pass a url, or send the image in the request"


class InvalidURL(ServiceError):
    status, code, default_message = 400, "invalid_url", "the url is not a valid http or https URL"


# --- the request's body and parameters (nsfw/web/inputs.py, nsfw/verdict.py) -------
class InvalidRequest(ServiceError):
    status, code, default_message = 400, "invalid_request", "the request body is not understood"


class InvalidBase64(ServiceError):
    status, code, default_message = 400, "invalid_base64", "the image is not valid base64"


class BatchTooLarge(ServiceError):
    status, code, default_message = 413, "batch_too_large", "the batch has more images than this service accepts"


class InvalidThresholds(ServiceError):
    status, code = 400, "invalid_thresholds"
    default_message = "thresholds must be numbers with 0 <= safe_threshold < adult_threshold <= 1"


# --- models (nsfw/models) ------------------------------------------------------
class ModelError(ServiceError):
    """The model files are missing or do not match their manifest."""

    status, code, default_message = 500, "model_error", "the model could not be loaded"


class UnknownModel(ServiceError):
    status, code, default_message = 400, "unknown_model", "this service does not serve that model"


# --- fetching ----------------------------------------------------------------
class BlockedAddress(ServiceError):
    status, code, default_message = 403, "blocked_address", "the url points to an address this service may not reach"


class UpstreamStatus(ServiceError):
    status, code, default_message = 502, "upstream_status", "the image server answered with an error status"


class FetchFailed(ServiceError):
    status, code, default_message = 502, "fetch_failed", "the image could not be downloaded"


class FetchTimeout(ServiceError):
    status, code, default_message = 504, "fetch_timeout", "the image download took too long"


class TooLarge(ServiceError):
    status, code, default_message = 413, "too_large", "the image is larger than this service accepts"


# --- decoding ----------------------------------------------------------------
class UnsupportedMedia(ServiceError):
    status, code = 415, "unsupported_media"
    default_message = "the body is not a JPEG, PNG, GIF, WebP, HEIF or AVIF image"


class CorruptImage(ServiceError):
    status, code, default_message = 422, "corrupt_image", "the image could not be decoded"


class ImageTooLarge(ServiceError):
    status, code, default_message = 413, "image_too_large", "the image has more pixels than this service accepts"


class ImageTooComplex(ServiceError):
    """The image used up its CPU budget (NSFW_DECODE_CPU_S) before it was decoded."""

    status, code = 422, "image_too_complex"
    default_message = "decoding the image needs more CPU time than this service allows"


# --- video (nsfw/imaging/video.py) -------------------------------------------
class VideoUnsupported(ServiceError):
    """A video container, but PyAV (the ``video`` extra) is not installed."""

    status, code = 415, "video_unsupported"
    default_message = "this service was installed without video support (the 'video' extra, PyAV)"


class UnsupportedCodec(ServiceError):
    status, code = 415, "unsupported_codec"
    default_message = "the video's codec is not one this service decodes (H.264, HEVC, VP8, VP9, AV1)"


class CorruptVideo(ServiceError):
    status, code, default_message = 422, "corrupt_video", "the video could not be decoded"


class VideoTooLarge(ServiceError):
    status, code = 413, "video_too_large"
    default_message = "the video's frames have more pixels than this service accepts"


class VideoTooLong(ServiceError):
    status, code, default_message = 413, "video_too_long", "the video lasts longer than this service accepts"


class VideoTooComplex(ServiceError):
    """Sampling the video used up its CPU budget (NSFW_VIDEO_CPU_S) or its decoded-frame cap."""

    status, code = 422, "video_too_complex"
    default_message = "decoding the video needs more work than this service allows"


# --- the service -------------------------------------------------------------
class NotReady(ServiceError):
    status, code, default_message = 503, "not_ready", "the model is not loaded yet"


class Overloaded(ServiceError):
    """Admission control: the worker's queues are full; come back shortly rather than wait."""

    status, code, default_message = 503, "overloaded", "the service is busy; retry shortly"
    retry_after = 1


class DeadlineExceeded(ServiceError):
    """The request's own deadline (NSFW_REQUEST_TIMEOUT) passed before its work was done."""

    status, code, default_message = 504, "deadline_exceeded", "the request did not finish within its deadline"


# --- protection (nsfw/protect) ------------------------------------------------
class Unauthorized(ServiceError):
    """No API key, or one that is not in NSFW_API_KEYS_FILE."""

    status, code, default_message = 401, "unauthorized", "a valid API key is required"
    headers = {"WWW-Authenticate": 'Bearer realm="nsfw"'}


class RateLimited(ServiceError):
    """The caller spent its NSFW_RATE_LIMIT; Retry-After says when the window resets."""

    status, code, default_message = 429, "rate_limited", "rate limit exceeded; retry after the window resets"
    retry_after = 1

    def __init__(self, message: str | None = None, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class RateLimitUnavailable(ServiceError):
    """NSFW_RATE_LIMIT_FAIL=closed and the shared limit store (Redis) does not answer."""

    status, code, default_message = 503, "rate_limit_unavailable", "rate limits cannot be checked; retry shortly"
    retry_after = 1


# --- the review queue (nsfw/review) -------------------------------------------
class NotReviewer(ServiceError):
    """No reviewer token, or one that is not in NSFW_REVIEWERS_FILE."""

    status, code, default_message = 401, "not_reviewer", "a valid reviewer token is required"
    headers = {"WWW-Authenticate": 'Bearer realm="nsfw-review"'}


class ReviewDisabled(ServiceError):
    """NSFW_REVIEW=off: there is no queue, so its routes name nothing (404, as for an unknown path)."""

    status, code, default_message = 404, "review_disabled", "the review queue is off (NSFW_REVIEW=off)"


class ReviewItemNotFound(ServiceError):
    status, code, default_message = 404, "review_item_not_found", "no review item has this id"


class InvalidDecision(ServiceError):
    status, code, default_message = 400, "invalid_decision", 'the decision must be "adult" or "safe"'


class InvalidCursor(ServiceError):
    status, code, default_message = 400, "invalid_cursor", "the cursor is not one this service gave out"


class InvalidReviewQuery(ServiceError):
    status, code, default_message = 400, "invalid_review_query", "a query parameter has a value not accepted"


class ReviewUnavailable(ServiceError):
    """The review database does not answer; classification goes on without it."""

    status, code, default_message = 503, "review_unavailable", "the review database is unavailable; retry shortly"
    retry_after = 5


# The reviewer pages' session (nsfw/web/review/session.py, nsfw/web/review/pages.py).
class SignInRequired(ServiceError):
    """No reviewer session (or an expired one) on a route that needs one."""

    status, code = 401, "sign_in_required"
    default_message = "sign in on the review page first (GET /review/sign-in)"
    headers = {"WWW-Authenticate": 'Bearer realm="nsfw-review"'}


class CSRFFailed(ServiceError):
    status, code = 403, "csrf_failed"
    default_message = "this form was not sent by the review page of this session: reload the page and try again"


# --- known content (nsfw/known, nsfw/review/known.py) ---------------------------
class ListedContent(ServiceError):
    """The image matched a hash list whose action is ``reject``: answered without classifying it."""

    status, code, default_message = 403, "listed_content", "the image matches a list of content this service refuses"

    def __init__(self, match: dict, message: str | None = None):
        super().__init__(message)
        self.match = match

    def details(self) -> dict:
        return {"match": self.match}


class InvalidHashList(ServiceError):
    """A hash-list file, name or action that cannot be imported; the message names the bad line."""

    status, code, default_message = 400, "invalid_hash_list", "the hash list is not valid"


class HashListNotFound(ServiceError):
    status, code, default_message = 404, "hash_list_not_found", "no hash list has this name"


class NothingToUndo(ServiceError):
    status, code, default_message = 409, "nothing_to_undo", "no decision of this session is left to undo"


class UndoRefused(ServiceError):
    """An undo of a decision that is no longer the item's: another reviewer decided (or undid) it since."""

    status, code = 409, "undo_refused"
    default_message = "undo takes back only your own latest decision, and this item's is no longer yours"


# --- calibration (nsfw/review/calibration.py, calibration_plot.py) ------------------
class InvalidTarget(ServiceError):
    status, code = 400, "invalid_target"
    default_message = "target must be a precision between 0.5 and 1 (e.g. 0.95)"


class PlotUnavailable(ServiceError):
    status, code = 501, "plot_unavailable"
    default_message = f"matplotlib is not installed: {hint('review')} to draw the plot"


# --- the command line (nsfw/cli, nsfw/batch) -----------------------------------------
class UsageError(ValueError):
    """Bad arguments, or an input or output the command cannot use: exit status 2 with the
    usage, before any work. Never an HTTP answer, so it is no ``ServiceError``."""
