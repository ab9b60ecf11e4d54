"""Structured logs: one JSON line per request, and every other line in the same format.

JSON lines come from python-json-logger: ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, ``request_id`` and the fields a caller passes as ``extra``. ``NSFW_LOG_FORMAT=text``
writes the same fields as one human line instead (``key=value`` after the message).

Nothing is configured on import: the gunicorn logger class (``nsfw.server.gunicorn_logs``)
calls ``configure`` in the master, so the CLI, which prints its results on stdout, never
gets log lines mixed into them.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import urlsplit

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from nsfw.observe import request_ids

#: The logger every request line is written to (under the package's logger, "nsfw").
REQUEST_LOGGER = "nsfw.request"
# WSGI environ key: the app wrote this request's line, so gunicorn's access log skips it (one line
# per request; gunicorn's access lines remain for what never reached the app).
LOGGED = "nsfw.request_logged"
_STANDARD = frozenset(RESERVED_ATTRS) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request its thread is serving (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_ids.current.get()
        return True


# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators, as Python escapes:
# a request path holding "%0a" must not start a line of its own in a text log.
_ESCAPES = {code: ascii(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)} | {
    ord("\\"): "\\\\"
}


def escape(text: str) -> str:
    """``text`` on one line: each control character as its Python escape (``\\n``, ``\\x1b``), backslashes doubled."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """The human format: time, level, logger, [request id], message, then the extra fields as key=value.

    Each record is one line: the message and the fields are escaped (see :func:`escape`), so no
    text a client sent can forge a record. A traceback follows on lines of its own, each indented
    by four spaces; only a record's first line starts in the first column.
    """

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = escape(super().formatMessage(record))
        # "_"-names are other libraries' bookkeeping (Ray stamps every record once imported)
        extra = " ".join(
            f"{escape(str(k))}={escape(str(v))}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and v is not None and k[0] != "_"
        )
        return f"{line} {extra}" if extra else line

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info:  # formatted here, not from record.exc_text: another handler may have cached its own
            line += "\n" + _indented(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        return line


def _indented(text: str) -> str:
    """A traceback's lines, each escaped and indented, so none of them reads as a record."""
    return "\n".join("    " + escape(line) for line in text.splitlines())


def formatter(kind: str) -> logging.Formatter:
    """A formatter for ``NSFW_LOG_FORMAT`` (``json`` or ``text``)."""
    if kind == "text":
        return TextFormatter()
    return JsonFormatter(
        "{levelname}{name}{message}{request_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="ts",
    )


def configure(kind: str, level: str, stream=None) -> logging.Handler:
    """Send the package's log lines (request lines included) to ``stream`` (stdout) in ``kind`` format."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestIdFilter())
    package = logging.getLogger("nsfw")
    for old in [h for h in package.handlers if getattr(h, "_nsfw", False)]:
        package.removeHandler(old)
    handler._nsfw = True  # type: ignore[attr-defined]  # marks the handler this module installed
    package.addHandler(handler)
    package.setLevel(level.upper())
    package.propagate = False
    return handler


def redact_url(url: str, full: bool = False) -> str:
    """``scheme://host[:port]/path`` of a URL: query strings and user info can carry secrets."""
    if full:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"
