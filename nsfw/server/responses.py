"""The bytes the worker writes itself, without the application: JSON errors, the health answer.

gunicorn answers its own errors (a bad request line, headers too large) with HTML; the
worker answers them, and the errors it raises on its event loop (slow heads, stalled
bodies), in the service's JSON shape. ``/health`` is answered there too (see
``nsfw.server.worker``). Also the small readings of a request head those answers need.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gunicorn import util

from nsfw.observe import request_ids

#: A header line gunicorn accepts as it is (a token, a colon, visible characters and blanks).
FIELD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t\x21-\x7e\x80-\xff]{0,8190}")
#: The liveness probe, answered by the poller itself (see ``health_answer``, ``Worker.answer_health``).
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


def health_answer(head: bytes, max_fields: int, stopping: bool) -> tuple[bytes, bool] | None:
    """For a complete head of ``GET`` or ``HEAD /health`` that gunicorn's parser would accept as it
    is, with no body: the response and whether to close after it. None for any other request."""
    line, _, rest = head.partition(b"\r\n")
    method, _, line = line.partition(b" ")
    target, _, version = line.partition(b" ")
    if method not in (b"GET", b"HEAD") or target != b"/health" or version not in (b"HTTP/1.1", b"HTTP/1.0"):
        return None
    lines = rest.split(b"\r\n")[:-2]  # the head ends with an empty line
    if len(lines) > max_fields or not all(FIELD.fullmatch(line) for line in lines):
        return None  # gunicorn's parser refuses it, with its own status
    parsed = [(name.lower(), value.strip()) for name, _, value in (ln.partition(b":") for ln in lines)]
    fields = {name: value.lower() for name, value in parsed}
    if b"transfer-encoding" in fields or b"content-length" in fields:
        return None  # a body the parser must see
    close = version == b"HTTP/1.0" or b"close" in fields.get(b"connection", b"") or stopping
    given = next((value for name, value in parsed if name == b"x-request-id"), None)
    return health_bytes(close, with_body=method == b"GET", request_id=request_ids.accept_bytes(given)), close


class ErrorsAsJSON:
    """A mixin for a gthread worker: gunicorn's own errors (a bad request line, a head too large)
    answered in the service's JSON shape instead of gunicorn's HTML."""

    log: Any  # the gthread worker's

    def handle_error(self, req, client, addr, exc):
        """gunicorn's error handling (status, log lines, access log), answered as JSON."""
        capture = Capture()
        request_id = request_ids.new()
        token = request_ids.current.set(request_id)  # gunicorn's log lines about it carry the id
        try:
            super().handle_error(req, capture, addr, exc)  # type: ignore[misc]  # the gthread worker's
        finally:
            request_ids.current.reset(token)
        status = capture.status()
        count_rejection(status)
        try:
            util.write_nonblock(client, error_bytes(status, request_id=request_id))
        except Exception:
            self.log.debug("Failed to send error message.")


def count_rejection(status: int) -> None:
    """A refusal the worker answers itself (slow or oversized heads) counts in nsfw_rejected_total too.

    Imported here, in the worker (after the fork and the app), never in the gunicorn master.
    """
    from nsfw.observe import metrics

    metrics.rejected(error_code(status), status)
