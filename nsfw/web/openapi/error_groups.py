"""The errors the API documents: which error classes each kind of view can answer, and their body.

Views name these groups in ``@doc(errors=...)``; ``spec.py`` turns each class into its status and
code, and the body schema here lists the codes a response can carry. Werkzeug's own errors are
rendered through the app's handlers to learn their status and code.
"""

from __future__ import annotations

from werkzeug.exceptions import RequestEntityTooLarge

from nsfw import errors as e
from nsfw.web.openapi.fragments import closed

FETCH_ERRORS = (e.InvalidURL, e.BlockedAddress, e.UpstreamStatus, e.FetchFailed, e.FetchTimeout, e.TooLarge)
DECODE_ERRORS: tuple[type[e.ServiceError], ...] = (
    e.UnsupportedMedia,
    e.CorruptImage,
    e.ImageTooLarge,
    e.ImageTooComplex,
)
# video (nsfw/imaging/video.py): answered where images are, so every view that decodes names them
VIDEO_ERRORS = (
    e.VideoUnsupported,
    e.UnsupportedCodec,
    e.CorruptVideo,
    e.VideoTooLarge,
    e.VideoTooLong,
    e.VideoTooComplex,
)
DECODE_ERRORS = (*DECODE_ERRORS, *VIDEO_ERRORS)
ADMISSION_ERRORS = (e.Overloaded, e.DeadlineExceeded)  # the worker is full, or the request ran out of time
DECODE_ERRORS = (*DECODE_ERRORS, e.ListedContent)  # a reject-listed hash is known once decoded
ITEM_ERRORS = (*FETCH_ERRORS, *DECODE_ERRORS, *ADMISSION_ERRORS, e.InvalidBase64, e.ServiceError)
BODY_TOO_LARGE = RequestEntityTooLarge  # the request body is over NSFW_MAX_REQUEST_BYTES


def codes(classes) -> list[str]:
    return sorted({cls.code for cls in classes})


def error_object(code_enum: list[str]) -> dict:
    return closed(
        {
            "code": {"type": "string", "enum": code_enum},
            "message": {"type": "string"},
            "request_id": {"type": "string", "description": "the request's X-Request-ID (not on batch items)"},
            "match": {"$ref": "#/components/schemas/Match", "description": "listed_content: the list it matched"},
        },
        required=["code", "message"],
    )


def error_body(code_enum: list[str]) -> dict:
    return closed({"error": error_object(code_enum)})
