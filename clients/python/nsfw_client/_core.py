"""What the sync and async clients share: sources, requests, answers and the retry rule, without I/O.

Both clients call these and differ only in how they send and how they sleep, so a behaviour
(which errors are retried, how a batch is split) is written once.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from typing import IO, Any

import httpx

from nsfw_client import errors
from nsfw_client._version import __version__
from nsfw_client.result import Result

# What classify takes: an http(s) URL, a path, bytes, or a binary file object.
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
# What classify_many answers per source: a Result, or the exception of an item that failed (not raised).
Outcome = Result | errors.APIError

# Refused before any work was done, and said to be temporary: safe to send again.
RETRYABLE = frozenset({"overloaded", "rate_limited", "rate_limit_unavailable", "not_ready"})
# The fields of the API's error object this client reads (tests/clients checks them against /openapi.json).
ERROR_FIELDS = ("code", "message", "request_id", "match")
# The routes the clients call, as "METHOD /path" (tests/clients checks them against /openapi.json).
ROUTES = ("GET /health", "GET /ready", "GET /v1/models", "POST /predict", "POST /v1/classify")
DEFAULT_BATCH = 16  # the service's default NSFW_MAX_BATCH; a smaller server limit is learnt from its answer
USER_AGENT = f"nsfw-client-python/{__version__}"
_AT_MOST = re.compile(r"at most (\d+)")


@dataclasses.dataclass(frozen=True)
class Item:
    """One thing to classify: a URL, or bytes with a name for the multipart field."""

    url: str | None = None
    data: bytes | None = None
    name: str = "image"


def is_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


def item(source: Source) -> Item:
    """A source as the service takes it. A file object is read from where it stands and put back there."""
    if is_url_source(source):
        return Item(url=str(source))
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return Item(data=f.read(), name=os.path.basename(os.fspath(source)))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Item(data=bytes(source))
    if hasattr(source, "read"):
        return Item(data=read_and_rewind(source), name=_file_name(source))
    raise TypeError(f"cannot classify a {type(source).__name__}: give a URL, a path, bytes or a binary file")


def read_and_rewind(file: IO[bytes]) -> bytes:
    position = file.tell() if _seekable(file) else None
    data = file.read()
    if position is not None:
        file.seek(position)
    if isinstance(data, str):
        raise TypeError("the file is open in text mode: open it with 'rb'")
    return bytes(data)


def _seekable(file: IO[bytes]) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, ValueError, OSError):
        return False


def _file_name(file: object) -> str:
    name = getattr(file, "name", None)
    return os.path.basename(name) if isinstance(name, str) and name else "image"


def options(model: str | None, adult_threshold: float | None, safe_threshold: float | None) -> dict[str, str]:
    given = {"model": model, "adult_threshold": adult_threshold, "safe_threshold": safe_threshold}
    return {key: str(value) for key, value in given.items() if value is not None}


def classify_request(items: Sequence[Item], params: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client.request``: URLs as JSON, bytes as multipart ``image`` fields."""
    if all(i.url is not None for i in items):
        return {"method": "POST", "url": "/v1/classify", "params": params, "json": {"urls": [i.url for i in items]}}
    if any(i.url is not None for i in items):
        raise ValueError("a batch is all URLs or all uploads")
    files = [("image", (i.name, i.data, "application/octet-stream")) for i in items]
    return {"method": "POST", "url": "/v1/classify", "params": params, "files": files}


def is_url_source(source: Source) -> bool:
    return isinstance(source, str) and is_url(source)


def batches(sources: Sequence[Source], size: int) -> list[list[int]]:
    """Indexes of ``sources`` in requests of at most ``size``, URLs and uploads apart, each in input order."""
    out: list[list[int]] = []
    for wanted in (True, False):
        chosen = [n for n, source in enumerate(sources) if is_url_source(source) == wanted]
        out += [chosen[start : start + size] for start in range(0, len(chosen), size)]
    return out


def smaller_batch(error: errors.APIError, size: int) -> int | None:
    """After a batch was refused as too big: the size to try instead, or None if splitting cannot help."""
    if size <= 1 or not isinstance(error, (errors.BatchTooLarge, errors.TooLarge)) or error.status != 413:
        return None
    found = _AT_MOST.search(error.message) if isinstance(error, errors.BatchTooLarge) else None
    limit = int(found.group(1)) if found else size // 2
    return max(1, min(limit, size - 1))


def outcomes(response: httpx.Response) -> list[Outcome]:
    """A /v1/classify answer: a Result, or the error object of an item that failed (not raised)."""
    results: list[Outcome] = []
    request_id = response.headers.get("X-Request-ID")  # items carry none of their own: the batch's
    for entry in check(response)["results"]:
        if "error" in entry:
            error = entry["error"]
            code, message = error.get("code", "error"), error.get("message", "")
            # no status of its own
            results.append(errors.from_code(code, message, request_id=request_id, match=error.get("match")))
        else:
            results.append(Result.from_json(entry))
    return results


def check(response: httpx.Response) -> Any:
    """The JSON of a successful answer; the API's exception otherwise."""
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise errors.UnexpectedResponse("the answer is not JSON", status=response.status_code) from None
    raise error_of(response)


def error_of(response: httpx.Response) -> errors.APIError:
    request_id = response.headers.get("X-Request-ID")
    retry_after = _seconds(response.headers.get("Retry-After"))
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error.get("message", ""))
        request_id = error.get("request_id") or request_id
    except (ValueError, KeyError, TypeError):
        text = f"HTTP {response.status_code} without the service's error body"
        return errors.UnexpectedResponse(text, status=response.status_code, request_id=request_id)
    return errors.from_code(
        code,
        message,
        status=response.status_code,
        request_id=request_id,
        retry_after=retry_after,
        match=error.get("match"),
    )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the service never sends one; treat as absent


def retry_delay(error: errors.APIError, attempt: int, retries: int, cap: float) -> float | None:
    """Seconds to wait before sending again, or None to give up (not retryable, out of tries, or over the cap)."""
    if error.code not in RETRYABLE or attempt >= retries:
        return None
    delay = error.retry_after if error.retry_after is not None else min(cap, 0.25 * 2**attempt)
    return delay if delay <= cap else None


def items_to_retry(outcomes: Sequence[Outcome]) -> list[int]:
    """Indexes of a batch's items refused before any work (an item's own ``overloaded``): safe to send again."""
    return [n for n, o in enumerate(outcomes) if isinstance(o, errors.APIError) and o.code in RETRYABLE]


def connect_delay(attempt: int, retries: int) -> float | None:
    """A refused connection never reached the service, so it is retried too, briefly."""
    return None if attempt >= retries else 0.1 * 2**attempt


def headers(api_key: str | None) -> dict[str, str]:
    given = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        given["Authorization"] = f"Bearer {api_key}"
    return given
