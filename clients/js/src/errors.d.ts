export declare class NsfwError extends Error {}
export declare class ServiceUnreachable extends NsfwError {}
export interface APIErrorOptions {
  code?: string;
  status?: number | null;
  requestId?: string | null;
  retryAfter?: number | null;
  match?: Record<string, unknown> | null;
}
export declare class APIError extends NsfwError {
  static readonly code: string;
  constructor(message: string, options?: APIErrorOptions);
  readonly code: string;
  readonly status: number | null;
  readonly requestId: string | null;
  /** seconds, from Retry-After */
  readonly retryAfter: number | null;
  /** listed_content: the hash list the image matched */
  readonly match: Record<string, unknown> | null;
}
export declare class UnexpectedResponse extends APIError {
  static readonly code: "unexpected_response";
}
export declare class BatchTooLarge extends APIError {
  static readonly code: "batch_too_large";
}
export declare class BlockedAddress extends APIError {
  static readonly code: "blocked_address";
}
export declare class CorruptImage extends APIError {
  static readonly code: "corrupt_image";
}
export declare class CorruptVideo extends APIError {
  static readonly code: "corrupt_video";
}
export declare class CSRFFailed extends APIError {
  static readonly code: "csrf_failed";
}
export declare class DeadlineExceeded extends APIError {
  static readonly code: "deadline_exceeded";
}
export declare class FetchFailed extends APIError {
  static readonly code: "fetch_failed";
}
export declare class FetchTimeout extends APIError {
  static readonly code: "fetch_timeout";
}
export declare class ImageTooComplex extends APIError {
  static readonly code: "image_too_complex";
}
export declare class ImageTooLarge extends APIError {
  static readonly code: "image_too_large";
}
export declare class InternalError extends APIError {
  static readonly code: "internal_error";
}
export declare class InvalidBase64 extends APIError {
  static readonly code: "invalid_base64";
}
export declare class InvalidCursor extends APIError {
  static readonly code: "invalid_cursor";
}
export declare class InvalidDecision extends APIError {
  static readonly code: "invalid_decision";
}
export declare class InvalidRequest extends APIError {
  static readonly code: "invalid_request";
}
export declare class InvalidReviewQuery extends APIError {
  static readonly code: "invalid_review_query";
}
export declare class InvalidTarget extends APIError {
  static readonly code: "invalid_target";
}
export declare class InvalidThresholds extends APIError {
  static readonly code: "invalid_thresholds";
}
export declare class InvalidUrl extends APIError {
  static readonly code: "invalid_url";
}
export declare class MissingUrl extends APIError {
  static readonly code: "missing_url";
}
export declare class ModelError extends APIError {
  static readonly code: "model_error";
}
export declare class NotFound extends APIError {
  static readonly code: "not_found";
}
export declare class NotReady extends APIError {
  static readonly code: "not_ready";
}
export declare class NotReviewer extends APIError {
  static readonly code: "not_reviewer";
}
export declare class NothingToUndo extends APIError {
  static readonly code: "nothing_to_undo";
}
export declare class Overloaded extends APIError {
  static readonly code: "overloaded";
}
export declare class PlotUnavailable extends APIError {
  static readonly code: "plot_unavailable";
}
export declare class RateLimitUnavailable extends APIError {
  static readonly code: "rate_limit_unavailable";
}
export declare class RateLimited extends APIError {
  static readonly code: "rate_limited";
}
export declare class ReviewDisabled extends APIError {
  static readonly code: "review_disabled";
}
export declare class ReviewItemNotFound extends APIError {
  static readonly code: "review_item_not_found";
}
export declare class ReviewUnavailable extends APIError {
  static readonly code: "review_unavailable";
}
export declare class SignInRequired extends APIError {
  static readonly code: "sign_in_required";
}
export declare class TooLarge extends APIError {
  static readonly code: "too_large";
}
export declare class Unauthorized extends APIError {
  static readonly code: "unauthorized";
}
export declare class UndoRefused extends APIError {
  static readonly code: "undo_refused";
}
export declare class UnknownModel extends APIError {
  static readonly code: "unknown_model";
}
export declare class UnsupportedCodec extends APIError {
  static readonly code: "unsupported_codec";
}
export declare class UnsupportedMedia extends APIError {
  static readonly code: "unsupported_media";
}
export declare class UpstreamStatus extends APIError {
  static readonly code: "upstream_status";
}
export declare class VideoTooComplex extends APIError {
  static readonly code: "video_too_complex";
}
export declare class VideoTooLarge extends APIError {
  static readonly code: "video_too_large";
}
export declare class VideoTooLong extends APIError {
  static readonly code: "video_too_long";
}
export declare class VideoUnsupported extends APIError {
  static readonly code: "video_unsupported";
}
export declare class HashListNotFound extends APIError {
  static readonly code: "hash_list_not_found";
}
export declare class InvalidHashList extends APIError {
  static readonly code: "invalid_hash_list";
}
export declare class ListedContent extends APIError {
  static readonly code: "listed_content";
}
export declare const BY_CODE: Record<string, typeof APIError>;
export declare function fromCode(code: string, message: string, options?: APIErrorOptions): APIError;
