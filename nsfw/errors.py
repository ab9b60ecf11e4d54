"""Typed failures of the pipeline.

Each step raises the error it knows about; the HTTP layer turns every one of
them into the same JSON shape in one place, so a caller always gets a stable
``code`` and the right status, never an HTML page.
"""

from __future__ import annotations

from collections.abc import Mapping


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

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


# --- the request itself ----------------------------------------------------
class MissingURL(ServiceError):
    status, code, default_message = 400, "missing_url", "no image given: pass a url, or send the image in the request"


class InvalidURL(ServiceError):
    status, code, default_message = 400, "invalid_url", "the url is not a valid http or https URL"


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


# The reviewer pages' session (nsfw/web/review_session.py, nsfw/web/review_page.py).
class SignInRequired(ServiceError):
    """No reviewer session (or an expired one) on a route that needs one."""

    status, code = 401, "sign_in_required"
    default_message = "sign in on the review page first (GET /review/sign-in)"
    headers = {"WWW-Authenticate": 'Bearer realm="nsfw-review"'}


class CSRFFailed(ServiceError):
    status, code = 403, "csrf_failed"
    default_message = "this form was not sent by the review page of this session: reload the page and try again"


class NothingToUndo(ServiceError):
    status, code, default_message = 409, "nothing_to_undo", "no decision of this session is left to undo"


class UndoRefused(ServiceError):
    """An undo of a decision that is no longer the item's: another reviewer decided (or undid) it since."""

    status, code = 409, "undo_refused"
    default_message = "undo takes back only your own latest decision, and this item's is no longer yours"
