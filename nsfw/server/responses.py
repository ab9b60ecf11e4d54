"""The bytes the worker writes itself, without the application: JSON errors, the health answer.

gunicorn answers its own errors (a bad request line, headers too large) with HTML; the
worker answers them, and the errors it raises on its event loop (slow heads, stalled
bodies), in the service's JSON shape. ``/health`` is answered there too (see
``nsfw.server.worker``). Also the small readings of a request head those answers need.
"""

from __future__ import annotations

import json
import re

#: A header line gunicorn accepts as it is (a token, a colon, visible characters and blanks).
FIELD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t\x21-\x7e\x80-\xff]{0,8190}")
#: The liveness probe, answered by the poller itself (see ``Worker.answer_health``).
HEALTH_BODY = b'{"status":"ok"}\n'

# gunicorn's status for a parse error, as the service's stable error code.
_CODES = {
    400: ("invalid_request", "the request is not valid HTTP"),
    403: ("forbidden", "request forbidden"),
    408: ("request_timeout", "the request did not arrive in time"),
    414: ("uri_too_long", "the request line is too long"),
    417: ("expectation_failed", "the Expect header cannot be met"),
    431: ("header_too_large", "the request header is too large"),
    500: ("internal_error", "internal error"),
    501: ("not_implemented", "the transfer coding is not supported"),
}
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def error_code(status: int) -> str:
    """The service's error code for a status the worker answers itself."""
    return _CODES.get(status, ("invalid_request",))[0]


def error_bytes(
    status: int, code: str | None = None, message: str | None = None, request_id: str | None = None
) -> bytes:
    """A complete HTTP/1.1 error response in the service's JSON shape; the connection closes after it."""
    default_code, default_message = _CODES.get(status, ("invalid_request", "the request is not valid HTTP"))
    error = {"code": code or default_code, "message": message or default_message}
    if request_id:
        error["request_id"] = request_id
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        + (f"X-Request-ID: {request_id}\r\n" if request_id else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def body_to_wait_for(head: bytes, limit: int) -> int:
    """How many body bytes to read ahead for this head: its Content-Length, up to ``limit``.

    Nothing when the body is chunked, the client waits for "100 Continue", or
    the head is odd in a way gunicorn's parser will judge: guessing too much
    here would make a valid request wait for bytes that never come; too little
    only means the pool thread reads the rest.
    """
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        name = name.lower()
        if name in (b"transfer-encoding", b"expect"):
            return 0
        if name == b"content-length":
            value = value.strip(b" \t")
            if length is not None or not value.isdigit():
                return 0
            length = int(value)
    return min(length or 0, limit)


class Capture:
    """Stands in for the client socket so gunicorn's handle_error picks the status; the bytes are discarded."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0

    def setblocking(self, flag):
        pass

    def sendall(self, data):
        self.data += data

    def status(self) -> int:
        try:
            return int(self.data.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return 500


def health_bytes(close: bool, with_body: bool, request_id: str = "") -> bytes:
    """The app's own ``/health`` answer, with the security header and the request id every response carries."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
        + (b"X-Request-ID: %s\r\n" % request_id.encode("ascii") if request_id else b"")
        + b"Content-Length: %d\r\nConnection: %s\r\n\r\n" % (len(HEALTH_BODY), b"close" if close else b"keep-alive")
    )
    return head + (HEALTH_BODY if with_body else b"")
