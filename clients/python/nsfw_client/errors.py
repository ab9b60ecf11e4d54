"""One exception class per error code of the API, each carrying the code, the message and the request id.

The service answers every failure as ``{"error": {"code", "message", "request_id"}}``; the code is
stable, so callers catch a class (``except nsfw_client.errors.RateLimited``) rather than parse text.
A code this client does not know yet is an :class:`APIError` whose ``code`` says which.
``CODES`` is this module's list; tests check it equals the served ``/openapi.json`` and the JS package's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NsfwError(Exception):
    """Anything this client raises."""


class ServiceUnreachable(NsfwError):
    """No answer from the service: refused connection, DNS failure, timeout, or a reply that is not HTTP."""


class APIError(NsfwError):
    """The service answered with an error: ``code`` (stable), ``message``, ``request_id``, ``status``
    (None for an item of a batch, which has no status of its own)."""

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        match: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.match = match  # listed_content: the hash list the image matched

    def __str__(self) -> str:
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{suffix}"


class UnexpectedResponse(APIError):
    """An answer without the service's JSON error shape (a proxy's error page, say)."""

    code = "unexpected_response"


class BatchTooLarge(APIError):
    code = "batch_too_large"


class BlockedAddress(APIError):
    code = "blocked_address"


class CorruptImage(APIError):
    code = "corrupt_image"


class CorruptVideo(APIError):
    code = "corrupt_video"


class CSRFFailed(APIError):
    code = "csrf_failed"


class DeadlineExceeded(APIError):
    code = "deadline_exceeded"


class FetchFailed(APIError):
    code = "fetch_failed"


class FetchTimeout(APIError):
    code = "fetch_timeout"


class HashListNotFound(APIError):
    code = "hash_list_not_found"


class ImageTooComplex(APIError):
    code = "image_too_complex"


class ImageTooLarge(APIError):
    code = "image_too_large"


class InternalError(APIError):
    code = "internal_error"


class InvalidBase64(APIError):
    code = "invalid_base64"


class InvalidCursor(APIError):
    code = "invalid_cursor"


class InvalidDecision(APIError):
    code = "invalid_decision"


class InvalidHashList(APIError):
    code = "invalid_hash_list"


class InvalidRequest(APIError):
    code = "invalid_request"


class InvalidReviewQuery(APIError):
    code = "invalid_review_query"


class InvalidTarget(APIError):
    code = "invalid_target"


class InvalidThresholds(APIError):
    code = "invalid_thresholds"


class InvalidUrl(APIError):
    code = "invalid_url"


class ListedContent(APIError):
    code = "listed_content"


class MissingUrl(APIError):
    code = "missing_url"


class ModelError(APIError):
    code = "model_error"


class NotFound(APIError):
    code = "not_found"


class NotReady(APIError):
    code = "not_ready"


class NotReviewer(APIError):
    code = "not_reviewer"


class NothingToUndo(APIError):
    code = "nothing_to_undo"


class Overloaded(APIError):
    code = "overloaded"


class PlotUnavailable(APIError):
    code = "plot_unavailable"


class RateLimitUnavailable(APIError):
    code = "rate_limit_unavailable"


class RateLimited(APIError):
    code = "rate_limited"


class ReviewDisabled(APIError):
    code = "review_disabled"


class ReviewItemNotFound(APIError):
    code = "review_item_not_found"


class ReviewUnavailable(APIError):
    code = "review_unavailable"


class SignInRequired(APIError):
    code = "sign_in_required"


class TooLarge(APIError):
    code = "too_large"


class Unauthorized(APIError):
    code = "unauthorized"


class UndoRefused(APIError):
    code = "undo_refused"


class UnknownModel(APIError):
    code = "unknown_model"


class UnsupportedCodec(APIError):
    code = "unsupported_codec"


class UnsupportedMedia(APIError):
    code = "unsupported_media"


class UpstreamStatus(APIError):
    code = "upstream_status"


class VideoTooComplex(APIError):
    code = "video_too_complex"


class VideoTooLarge(APIError):
    code = "video_too_large"


class VideoTooLong(APIError):
    code = "video_too_long"


class VideoUnsupported(APIError):
    code = "video_unsupported"


BY_CODE: dict[str, type[APIError]] = {
    cls.code: cls for cls in APIError.__subclasses__() if cls is not UnexpectedResponse
}
CODES: tuple[str, ...] = tuple(sorted(BY_CODE))


def from_code(
    code: str,
    message: str,
    *,
    status: int | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    match: Mapping[str, Any] | None = None,
) -> APIError:
    """The exception for ``code``: its own class, or :class:`APIError` for a code unknown to this version."""
    cls = BY_CODE.get(code, APIError)
    return cls(message, code=code, status=status, request_id=request_id, retry_after=retry_after, match=match)
