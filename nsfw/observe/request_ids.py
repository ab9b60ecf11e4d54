"""Request ids: the caller's ``X-Request-ID`` when it is safe to echo and log, else a new one.

A caller's id ties our log lines to theirs; but it is echoed in a header and written to
logs, so only a short run of a small charset is taken as it is (no spaces, quotes, control
characters or anything a log parser or header could trip on).
"""

from __future__ import annotations

import contextvars
import re
import uuid

HEADER = "X-Request-ID"
SAFE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SAFE_BYTES = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

#: The id of the request this thread is serving, for every log line written meanwhile.
current: contextvars.ContextVar[str | None] = contextvars.ContextVar("nsfw_request_id", default=None)


def new() -> str:
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """The caller's id when it matches ``SAFE``, else a new one."""
    if value and SAFE.fullmatch(value):
        return value
    return new()


def accept_bytes(value: bytes | None) -> str:
    """As ``accept``, for a raw header value (the worker reads heads as bytes)."""
    if value and SAFE_BYTES.fullmatch(value):
        return value.decode("ascii")
    return new()
