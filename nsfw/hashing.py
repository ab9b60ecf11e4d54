"""Perceptual hashes of images without classifying them: what ``POST /v1/hash`` answers.

Clients build hash lists from it, so an image gets exactly the hashes classifying it would
give: the same decoder process, budgets and frame choice (an animation's NSFW_MAX_FRAMES
frames, a video's NSFW_VIDEO_FRAMES), only no model runs. The decoder still prepares the
default model's inputs it always prepares (a few milliseconds, thrown away), so there is one
decoding path to keep bounded, not two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from nsfw.errors import CorruptVideo
from nsfw.imaging import video_headers
from nsfw.imaging.pdq import Pdq
from nsfw.pipeline import Detector, require_video


@dataclasses.dataclass(frozen=True)
class Hashes:
    """One image's (or video's) hashes and the facts a client needs to tell which is which."""

    image_format: str
    width: int
    height: int
    frames_pdq: tuple[Pdq, ...]  # every hashed frame in order: one for a still image
    sha256: str  # of the bytes: the exact-bytes key, beside the perceptual one
    size: int
    times: tuple[float, ...] = ()  # a video's frame times in seconds, one per hash
    timings_ms: dict = dataclasses.field(default_factory=dict)

    @property
    def pdq(self) -> Pdq:
        """The first frame's hash (a still image's only one)."""
        return self.frames_pdq[0]


def hash_many(detector: Detector, sources: list, deadline: float | None = None) -> list:
    """Hashes of URLs (str) and images (bytes), batched as ``Detector.classify_many`` batches;
    each entry is a Hashes or the ServiceError it met."""
    deadline = deadline or detector.deadline()
    return detector.each(sources, lambda source: hash_source(detector, source, deadline))


def hash_source(detector: Detector, source: str | bytes, deadline: float) -> Hashes:
    """One URL's or upload's hashes."""
    started = time.perf_counter()
    timings = {}
    if isinstance(source, str):
        source = detector.download(source, deadline)
        timings["fetch"] = _ms(started)
    size = detector.models.get(None).input_size  # what the decoder prepares besides the hashes
    decoded = time.perf_counter()
    if video_headers.sniff(source[: video_headers.HEAD_BYTES]):
        require_video()
        hashes, times = [], []

        def on_frame(tensor, t: float, pdq: Pdq) -> bool:
            hashes.append(pdq)
            times.append(t)
            return True

        prepared = detector.decoders.prepare(source, size, deadline, on_frame)
        frames, frame_times = tuple(hashes), tuple(times)
        if not frames:
            raise CorruptVideo("the video has no frame to hash")
    else:
        prepared = detector.decoders.prepare(source, size, deadline)
        frames, frame_times = prepared.pdq, ()
    timings["decode"] = _ms(decoded)
    return Hashes(
        image_format=prepared.format,
        width=prepared.width,
        height=prepared.height,
        frames_pdq=frames,
        sha256=hashlib.sha256(source).hexdigest(),
        size=len(source),
        times=frame_times,
        timings_ms=timings,
    )


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
