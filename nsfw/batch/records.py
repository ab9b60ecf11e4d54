"""One record per source, the same for every batch front-end and every output format.

JSON Lines keeps the HTTP API's error shape (``"error": {"code", "message"}``) and its
``"pdq": {"hash", "quality"}``; tabular outputs (CSV, Parquet) need one flat row with a fixed
set of columns, ``COLUMNS``, where the hash is ``pdq`` (hex: the column a hash list import
reads) and ``pdq_quality``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsfw.errors import ServiceError
from nsfw.verdict import Thresholds, nsfw_score, verdict

if TYPE_CHECKING:  # the core is imported by whoever classifies, not by whoever reads records
    from nsfw.pipeline import Classification

CLASSES = ("drawings", "hentai", "neutral", "porn", "sexy")
COLUMNS = ("source", "model", *CLASSES, "nsfw", "verdict", "top", "pdq", "pdq_quality", "error_code", "error_message")

# A source that is not an image the core can be given: a file that cannot be opened.
UNREADABLE = "unreadable"
# What a local file's failure says: the API's code, in file words rather than the HTTP API's
# (a request body, a deadline of the request). Only the default messages are replaced.
FILE_MESSAGES = {
    "unsupported_media": "the file is not a JPEG, PNG, GIF, WebP, HEIF or AVIF image, nor a video this service reads",
    "deadline_exceeded": "classifying the file took longer than NSFW_REQUEST_TIMEOUT allows",
}


def success(source: str, result: Classification, thresholds: Thresholds) -> dict:
    scores = result.scores
    return {
        "source": source,
        "model": result.model,
        **{name: scores[name] for name in CLASSES},
        "nsfw": nsfw_score(scores),
        "verdict": verdict(scores, thresholds),
        "top": max(scores, key=lambda name: scores[name]),
        "pdq": result.pdq.to_dict() if result.pdq is not None else None,
    }


def failure(source: str, code: str, message: str) -> dict:
    return {"source": source, "error": {"code": code, "message": message}}


def from_error(source: str, exc: ServiceError | OSError) -> dict:
    """The record of a source that failed: the API's code, or ``unreadable`` for a file error."""
    if isinstance(exc, ServiceError):
        return {"source": source, "error": exc.to_dict()}
    return failure(source, UNREADABLE, str(exc))


def from_file_error(source: str, exc: ServiceError | OSError) -> dict:
    """The record of a local file that failed, said in file words (never "body" or "request")."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return failure(source, UNREADABLE, f"cannot read the file: {reason[:1].lower()}{reason[1:]}")
    record = from_error(source, exc)
    if exc.message == exc.default_message and exc.code in FILE_MESSAGES:
        record["error"]["message"] = FILE_MESSAGES[exc.code]
    return record


def is_failure(record: dict) -> bool:
    return "error" in record


def flat(record: dict) -> dict:
    """The record as one row of ``COLUMNS`` (None where a column does not apply)."""
    error = record.get("error") or {}
    row = {name: record.get(name) for name in COLUMNS}
    pdq = record.get("pdq") or {}
    row["pdq"], row["pdq_quality"] = pdq.get("hash"), pdq.get("quality")
    row["error_code"] = error.get("code")
    row["error_message"] = error.get("message")
    return row


def unflat(row: dict) -> dict:
    """A flat row back into the record ``nsfw classify`` writes (the API's error shape)."""
    if row.get("error_code") is not None:
        return failure(row["source"], row["error_code"], row["error_message"])
    record = {name: row[name] for name in COLUMNS if not name.startswith(("error_", "pdq"))}
    record["pdq"] = None if row["pdq"] is None else {"hash": row["pdq"], "quality": row["pdq_quality"]}
    return record


def arrow_schema():
    """The record's flat row as a pyarrow schema: strings, float64 for the scores, int64 for the quality."""
    import pyarrow as pa  # only the bulk extra has it

    types = {**dict.fromkeys((*CLASSES, "nsfw"), pa.float64()), "pdq_quality": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])
