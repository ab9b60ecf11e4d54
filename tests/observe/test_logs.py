"""nsfw.observe.logs: JSON and text lines, request ids on every line, URLs without secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from nsfw.observe import logs, request_ids


@pytest.fixture
def package_logger():
    """Configure the package's logger into a buffer; put it back as it was afterwards."""
    logger = logging.getLogger("nsfw")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    stream = io.StringIO()
    yield lambda kind: (logs.configure(kind, "info", stream), stream)[1]
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_json_lines_carry_level_time_request_id_and_fields(package_logger):
    stream = package_logger("json")
    token = request_ids.current.set("rid-42")
    try:
        logging.getLogger("nsfw.request").info("GET /ready 200", extra={"status": 200, "route": "/ready"})
    finally:
        request_ids.current.reset(token)
    logging.getLogger("nsfw.web").warning("outside a request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "nsfw.request"
    assert first["request_id"] == "rid-42" and first["status"] == 200 and first["route"] == "/ready"
    assert first["message"] == "GET /ready 200" and first["ts"].endswith("+00:00")
    assert second["request_id"] is None and second["level"] == "WARNING"


def test_text_lines_are_for_people(package_logger):
    stream = package_logger("text")
    logging.getLogger("nsfw.request").info("GET /ready 200", extra={"status": 200, "request_id": "r1"})
    line = stream.getvalue().strip()
    assert "INFO nsfw.request [r1] GET /ready 200 status=200" in line
    with pytest.raises(ValueError):
        json.loads(line)


def test_below_the_level_nothing_is_written(package_logger):
    stream = package_logger("json")
    logging.getLogger("nsfw.request").debug("hidden")
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    "url,logged",
    [
        ("https://example.com/a/b.jpg?sig=SECRET&x=1", "https://example.com/a/b.jpg"),
        ("http://user:SECRET@example.com:8080/p#frag", "http://example.com:8080/p"),
        ("https://[2001:db8::1]/img.png?SECRET", "https://[2001:db8::1]/img.png"),
        ("https://example.com", "https://example.com"),
        ("http://[::1/", "<invalid url>"),
    ],
)
def test_urls_keep_scheme_host_and_path_only(url, logged):
    assert logs.redact_url(url) == logged
    assert "SECRET" not in logs.redact_url(url)
    assert logs.redact_url(url, full=True) == url


@pytest.mark.parametrize("value", [b"abc", b"A.b_c:d-1", b"x" * 128])
def test_raw_request_ids_as_the_worker_reads_them(value):
    assert request_ids.accept_bytes(value) == value.decode()


@pytest.mark.parametrize("value", [None, b"", b"x" * 129, b"a b", b"\xff", b"a\r\nSet-Cookie: x"])
def test_unsafe_raw_request_ids_are_replaced(value):
    new = request_ids.accept_bytes(value)
    assert len(new) == 32 and new != (value or b"").decode("latin-1")


def test_text_lines_cannot_be_forged(package_logger):
    """A path holding %0a (decoded to a newline) or a terminal escape stays inside its own record."""
    stream = package_logger("text")
    forged = "/x\n2026-01-01 00:00:00,000 INFO nsfw.request [admin] GET /admin 200\r\x1b[2J\u2028"
    logging.getLogger("nsfw.request").info("GET %s 404", forged, extra={"path": forged, "request_id": "r2"})
    try:
        raise ValueError(forged)
    except ValueError:
        logging.getLogger("nsfw.web").exception("failed on %s", forged)
    lines = stream.getvalue().splitlines()
    records = [line for line in lines if not line.startswith("    ")]
    assert len(records) == 2, lines  # the request line and the error line; the traceback is indented
    assert records[0].count("\\n2026-01-01") == 2 and "\\r\\x1b[2J\\u2028" in records[0]
    assert all("\x1b" not in line and "\r" not in line for line in lines)
    assert "    ValueError: /x" in lines
    assert "    2026-01-01 00:00:00,000 INFO nsfw.request [admin] GET /admin 200" in lines


def test_json_lines_cannot_be_forged(package_logger):
    stream = package_logger("json")
    logging.getLogger("nsfw.request").info("GET %s 404", "/x\n{}", extra={"path": "/x\n{}"})
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["path"] == "/x\n{}"
