// One error class per error code of the API, each carrying the code, the message and the request id.
// The list is api.json's "codes"; the tests check it against the served /openapi.json.

/** Anything this client throws. */
export class NsfwError extends Error {
  get name() {
    return this.constructor.name;
  }
}

/** No answer from the service: refused connection, DNS failure, timeout. */
export class ServiceUnreachable extends NsfwError {}

/** The service answered with an error: a stable `code`, the `message`, the `requestId`, the HTTP `status`. */
export class APIError extends NsfwError {
  static code = "error";

  constructor(message, { code, status, requestId, retryAfter, match } = {}) {
    super(message);
    this.code = code ?? new.target.code;
    this.status = status ?? null;
    this.requestId = requestId ?? null;
    this.retryAfter = retryAfter ?? null;
    this.match = match ?? null; // listed_content: the hash list the image matched
  }
}

/** An answer without the service's JSON error shape (a proxy's error page, say). */
export class UnexpectedResponse extends APIError {
  static code = "unexpected_response";
}

export class BatchTooLarge extends APIError {
  static code = "batch_too_large";
}
export class BlockedAddress extends APIError {
  static code = "blocked_address";
}
export class CorruptImage extends APIError {
  static code = "corrupt_image";
}
export class CorruptVideo extends APIError {
  static code = "corrupt_video";
}
export class CSRFFailed extends APIError {
  static code = "csrf_failed";
}
export class DeadlineExceeded extends APIError {
  static code = "deadline_exceeded";
}
export class FetchFailed extends APIError {
  static code = "fetch_failed";
}
export class FetchTimeout extends APIError {
  static code = "fetch_timeout";
}
export class ImageTooComplex extends APIError {
  static code = "image_too_complex";
}
export class ImageTooLarge extends APIError {
  static code = "image_too_large";
}
export class InternalError extends APIError {
  static code = "internal_error";
}
export class InvalidBase64 extends APIError {
  static code = "invalid_base64";
}
export class InvalidCursor extends APIError {
  static code = "invalid_cursor";
}
export class InvalidDecision extends APIError {
  static code = "invalid_decision";
}
export class InvalidRequest extends APIError {
  static code = "invalid_request";
}
export class InvalidReviewQuery extends APIError {
  static code = "invalid_review_query";
}
export class InvalidTarget extends APIError {
  static code = "invalid_target";
}
export class InvalidThresholds extends APIError {
  static code = "invalid_thresholds";
}
export class InvalidUrl extends APIError {
  static code = "invalid_url";
}
export class MissingUrl extends APIError {
  static code = "missing_url";
}
export class ModelError extends APIError {
  static code = "model_error";
}
export class NotFound extends APIError {
  static code = "not_found";
}
export class NotReady extends APIError {
  static code = "not_ready";
}
export class NotReviewer extends APIError {
  static code = "not_reviewer";
}
export class NothingToUndo extends APIError {
  static code = "nothing_to_undo";
}
export class Overloaded extends APIError {
  static code = "overloaded";
}
export class PlotUnavailable extends APIError {
  static code = "plot_unavailable";
}
export class RateLimitUnavailable extends APIError {
  static code = "rate_limit_unavailable";
}
export class RateLimited extends APIError {
  static code = "rate_limited";
}
export class ReviewDisabled extends APIError {
  static code = "review_disabled";
}
export class ReviewItemNotFound extends APIError {
  static code = "review_item_not_found";
}
export class ReviewUnavailable extends APIError {
  static code = "review_unavailable";
}
export class SignInRequired extends APIError {
  static code = "sign_in_required";
}
export class TooLarge extends APIError {
  static code = "too_large";
}
export class Unauthorized extends APIError {
  static code = "unauthorized";
}
export class UndoRefused extends APIError {
  static code = "undo_refused";
}
export class UnknownModel extends APIError {
  static code = "unknown_model";
}
export class UnsupportedCodec extends APIError {
  static code = "unsupported_codec";
}
export class UnsupportedMedia extends APIError {
  static code = "unsupported_media";
}
export class UpstreamStatus extends APIError {
  static code = "upstream_status";
}
export class VideoTooComplex extends APIError {
  static code = "video_too_complex";
}
export class VideoTooLarge extends APIError {
  static code = "video_too_large";
}
export class VideoTooLong extends APIError {
  static code = "video_too_long";
}
export class VideoUnsupported extends APIError {
  static code = "video_unsupported";
}

export class HashListNotFound extends APIError {
  static code = "hash_list_not_found";
}

export class InvalidHashList extends APIError {
  static code = "invalid_hash_list";
}

export class ListedContent extends APIError {
  static code = "listed_content";
}

/** @type {Record<string, typeof APIError>} */
export const BY_CODE = Object.fromEntries(
  [
  BatchTooLarge,
    BlockedAddress,
    CorruptImage,
    CorruptVideo,
    CSRFFailed,
    DeadlineExceeded,
    FetchFailed,
    FetchTimeout,
    ImageTooComplex,
    ImageTooLarge,
    InternalError,
    InvalidBase64,
    InvalidCursor,
    InvalidDecision,
    InvalidRequest,
    InvalidReviewQuery,
    InvalidTarget,
    InvalidThresholds,
    InvalidUrl,
    MissingUrl,
    ModelError,
    NotFound,
    NotReady,
    NotReviewer,
    NothingToUndo,
    Overloaded,
    PlotUnavailable,
    RateLimitUnavailable,
    RateLimited,
    ReviewDisabled,
    ReviewItemNotFound,
    ReviewUnavailable,
    SignInRequired,
    TooLarge,
    Unauthorized,
    UndoRefused,
    UnknownModel,
    UnsupportedCodec,
    UnsupportedMedia,
    UpstreamStatus,
    VideoTooComplex,
    VideoTooLarge,
    VideoTooLong,
    VideoUnsupported,
    HashListNotFound,
    InvalidHashList,
    ListedContent,
  ].map((cls) => [cls.code, cls]),
);

/** The exception for `code`: its own class, or APIError for a code unknown to this version. */
export function fromCode(code, message, options = {}) {
  const Cls = BY_CODE[code] ?? APIError;
  return new Cls(message, { ...options, code });
}
