"""What a request asks to classify: URLs, uploads, base64 images, and options.

Callers send images in several shapes (a query URL, a raw ``image/*`` or ``video/*``
body, multipart ``image`` or ``video`` fields, JSON with URLs or base64 strings). They are all
turned into a list of :class:`Item` here, so the pipeline sees only "a URL" or
"some bytes". A bad item (undecodable base64, too big) becomes an item error,
not a failed request: one bad image never fails a batch.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import tempfile

from flask import Request

from nsfw.errors import BatchTooLarge, InvalidBase64, InvalidRequest, MissingURL, ServiceError, TooLarge
from nsfw.imaging import video_headers

RAW_TYPES = ("application/octet-stream",)


@dataclasses.dataclass(frozen=True)
class Item:
    source: str
    url: str | None = None
    data: bytes | None = None
    error: ServiceError | None = None


@dataclasses.dataclass(frozen=True)
class Options:
    model: str | None = None
    adult_threshold: object = None
    safe_threshold: object = None


def options(request: Request, body: dict | None = None) -> Options:
    """model and thresholds from the query string, a JSON body or form fields (body wins)."""
    found = {}
    for name in ("model", "adult_threshold", "safe_threshold"):
        value = request.args.get(name)
        if body is not None and body.get(name) is not None:  # JSON null means "not given"
            value = body[name]
        elif name in request.form:
            value = request.form[name]
        found[name] = value
    if found["model"] is not None and not isinstance(found["model"], str):
        raise InvalidRequest("model must be a string")
    return Options(**found)


def single_upload(request: Request, max_bytes: int, max_video_bytes: int = 0) -> bytes:
    """The one image (or video) in the body of a /predict or /compute request."""
    items = uploads(request, max_bytes, max_video_bytes)
    if not items:
        raise MissingURL(
            "give the image as ?url=, a multipart field 'image' (or 'video') or an image/* (or video/*) body"
        )
    if items[0].error is not None:
        raise items[0].error
    assert items[0].data is not None  # an item without an error has its bytes
    return items[0].data


def uploads(request: Request, max_bytes: int, max_video_bytes: int = 0) -> list[Item]:
    """Images sent as multipart ``image`` (or ``video``) fields or as a raw image (or video) body.

    Whether a body is held to the image or the video cap is decided by its bytes, never by
    its type or field name; ``max_video_bytes`` 0 means the service takes no video.
    """
    mimetype = request.mimetype or ""
    most = max(max_bytes, max_video_bytes)
    if mimetype == "multipart/form-data":
        files = request.files.getlist("image") + request.files.getlist("video")
        return [
            _sized(f.filename or f"image[{i}]", f.read(most + 1), max_bytes, max_video_bytes)
            for i, f in enumerate(files)
        ]
    if mimetype.startswith(("image/", "video/")) or mimetype in RAW_TYPES:
        data = request.get_data(cache=False)
        return [_sized("body", data, max_bytes, max_video_bytes)] if data else []
    return []


def batch(request: Request, max_bytes: int, max_batch: int, max_video_bytes: int = 0) -> tuple[list[Item], Options]:
    """Everything a /v1/classify request asks for, in input order."""
    if (request.mimetype or "") == "application/json":
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # json's parser recurses once per level: "[" * 100000
            raise InvalidRequest("the JSON body is nested too deeply") from None
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object")
        items = _json_items(body, max_bytes, max_video_bytes)
        opts = options(request, body)
    else:
        items = uploads(request, max_bytes, max_video_bytes)
        opts = options(request)
    if not items:
        raise MissingURL(
            'give "url", "urls", "image" or "images" in a JSON body, multipart \'image\' fields, or an image/* body'
        )
    if len(items) > max_batch:
        raise BatchTooLarge(f"{len(items)} images; at most {max_batch} per request")
    return items, opts


def _json_items(body: dict, max_bytes: int, max_video_bytes: int = 0) -> list[Item]:
    given = [key for key in ("url", "urls", "image", "images") if key in body]
    if len(given) != 1:
        raise InvalidRequest('give exactly one of "url", "urls", "image" or "images"')
    key = given[0]
    values = body[key] if key in ("urls", "images") else [body[key]]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRequest(f'"{key}" must be {"a list of strings" if key.endswith("s") else "a string"}')
    if key.startswith("url"):
        return [Item(source=url, url=url) for url in values]
    return [_from_base64(f"image[{i}]", text, max_bytes, max_video_bytes) for i, text in enumerate(values)]


def _from_base64(source: str, text: str, max_bytes: int, max_video_bytes: int = 0) -> Item:
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]  # a data: URL
    most = max(max_bytes, max_video_bytes)
    if len(text) > (most + 2) // 3 * 4 + 4:
        return Item(source=source, error=TooLarge(f"the image is larger than {most} bytes"))
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return Item(source=source, error=InvalidBase64())
    return _sized(source, data, max_bytes, max_video_bytes)


def _sized(source: str, data: bytes, max_bytes: int, max_video_bytes: int = 0) -> Item:
    if max_video_bytes and video_headers.sniff(data[: video_headers.HEAD_BYTES]):
        if len(data) > max_video_bytes:
            return Item(source=source, error=TooLarge(f"the video is larger than {max_video_bytes} bytes"))
        return Item(source=source, data=data)
    if len(data) > max_bytes:
        return Item(source=source, error=TooLarge(f"the image is larger than {max_bytes} bytes"))
    return Item(source=source, data=data)


class SpooledRequest(Request):
    """Flask's request, with multipart uploads spooled in ``NSFW_TMP_DIR`` like downloads.

    Werkzeug puts an upload in an anonymous file in the system's temp dir; ``create_app``
    sets ``tmp_dir`` and ``spool_bytes`` (NSFW_TMP_DIR, NSFW_SPOOL_BYTES) on a subclass, so
    uploads are kept like downloads: in memory while small, then in the operator's dir.
    """

    tmp_dir: str | None = None
    spool_bytes = 1024 * 1024

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return tempfile.SpooledTemporaryFile(max_size=self.spool_bytes, mode="rb+", dir=self.tmp_dir)
