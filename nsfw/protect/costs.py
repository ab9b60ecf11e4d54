"""What a request costs against NSFW_RATE_LIMIT: one unit an image, NSFW_VIDEO_FRAMES a video.

Counted before any work from what the request already holds (:class:`ImageCounter`), except for
a URL that turns out to be a video, whose rest is spent after it is classified (:func:`spend_after`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

from flask import Request, Response, current_app, g
from werkzeug.datastructures import FileStorage

from nsfw.imaging import video, video_headers
from nsfw.settings import Settings

log = logging.getLogger(__name__)


class ImageCounter:
    """How many units a request costs, from what is already parsed or cheap to parse.

    An image is one unit. A video is ``video_cost`` units (NSFW_VIDEO_FRAMES, the frames it may
    have classified): each frame is one model run, like an image, and its decoding may take
    NSFW_VIDEO_CPU_S where an image's takes NSFW_DECODE_CPU_S. Bytes in hand (an upload, a raw
    body, base64) are told video or image by their first bytes, as the pipeline tells them; a URL
    is one unit here, and :func:`spend_after` spends the rest once it turned out to be a video.
    Every file in a multipart body counts, whatever its field's name.
    """

    def __init__(self, max_batch: int, video_cost: int = 1):
        self.max_batch = max_batch
        self.video_cost = video_cost

    def images(self, req: Request) -> int:
        if req.endpoint not in CLASSIFYING:
            return 1  # /v1/models, the review API: one unit
        if req.endpoint in BATCHES:
            heads = self._heads(req)
            if len(heads) > self.max_batch:  # refused before any work: spends what the largest allowed one does
                heads = sorted(heads, key=_is_video, reverse=True)[: self.max_batch]
            return max(1, sum(self.video_cost if _is_video(head) else 1 for head in heads))
        if req.args.get("url", "").strip():
            return 1  # a URL; spend_after spends the rest if it turned out to be a video
        # one item is classified; a video among the uploads may be the one
        return self.video_cost if any(map(_is_video, self._heads(req))) else 1

    def _heads(self, req: Request) -> list[bytes | None]:
        """The first bytes of each item the request carries; None for a URL (or nothing recognised)."""
        mimetype = req.mimetype or ""
        if mimetype == "application/json":
            return self._json_heads(req)
        if mimetype == "multipart/form-data":
            return [_file_head(f) for _, f in req.files.items(multi=True)] or [None]
        # a raw body: kept by werkzeug for the view, never read twice
        return [req.get_data(cache=True)[: video_headers.HEAD_BYTES]]

    def _json_heads(self, req: Request) -> list[bytes | None]:
        try:
            body = req.get_json(silent=True)  # cached: the view does not parse it again
        except RecursionError:  # the view answers invalid_request
            body = None
        if not isinstance(body, dict):
            return [None]
        if isinstance(body.get("urls"), list):
            return [None] * len(body["urls"])
        images = body["images"] if isinstance(body.get("images"), list) else [body.get("image")]
        return [_base64_head(text) for text in images]


# the routes that classify what a request carries (the others cost one unit)
CLASSIFYING = frozenset({"v1.classify", "v1.hash_images", "nsfw.predict", "compute.compute"})
# the routes that take a batch: one unit an image, a video's frames for a video
BATCHES = frozenset({"v1.classify", "v1.hash_images"})


def _file_head(upload: FileStorage) -> bytes:
    head: bytes = upload.stream.read(video_headers.HEAD_BYTES)
    upload.stream.seek(0)
    return head


def _base64_head(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode("".join(text[:128].split())[:88] + "==")
    except ValueError:
        return None


def _is_video(head: bytes | None) -> bool:
    return head is not None and video_headers.sniff(head) is not None


def video_cost(settings: Settings) -> int:
    """The units a video costs: the frames it may have classified (1 when this install takes no video)."""
    return settings.video_frames if video.available() else 1


def spend_after(cost: int) -> Callable[[Response], Response]:
    """An after-request hook: a URL that turned out to be a video spends the rest of its cost.

    It was counted as one unit before the download; the other ``cost - 1`` are spent once it
    is classified, as many of them as the client has left (a refused spend would record none).
    """

    def spend(response: Response) -> Response:
        extra = sum(cost - 1 for result, _, url in g.get("results") or () if url is not None and result.video)
        if extra <= 0 or g.get("nsfw_open", False):
            return response
        limiter = current_app.extensions["nsfw_limiter"]
        breaker = getattr(limiter, "_nsfw_breaker", None)
        if breaker is not None and breaker.open and not limiter._storage_dead:
            return response  # Redis is being left alone and nothing counts in memory instead
        try:
            for current in limiter.current_limits:
                left = limiter.limiter.get_window_stats(current.limit, *current.request_args)[1]
                if left > 0:
                    limiter.limiter.hit(current.limit, *current.request_args, cost=min(extra, left))
                current._window = None  # the headers read it again
        except Exception as exc:  # the storage failed since the check: this request's rest goes uncounted
            log.warning("rate limit storage: a video's frames were not counted (%s)", type(exc).__name__)
        return response

    return spend
