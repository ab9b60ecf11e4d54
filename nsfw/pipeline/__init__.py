"""The core: url or image bytes in, scores out.

This is the library API the HTTP layer and the CLI share. Data flows one way:
fetch -> decode -> preprocess -> model. The downloaded file lives only as long
as reading it takes; results are remembered by image content (``cache.py``),
so the same picture behind another URL is not classified twice. Nothing here
knows about Flask.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, BinaryIO, TypeVar

import numpy as np

from nsfw import cache
from nsfw.errors import CorruptVideo, DeadlineExceeded, ListedContent, Overloaded, ServiceError, VideoUnsupported
from nsfw.extras import hint
from nsfw.fetch.fetcher import Fetcher
from nsfw.imaging import video, video_headers
from nsfw.imaging.pdq import Pdq
from nsfw.imaging.sandbox import DecoderPool
from nsfw.imaging.wire import VideoSummary
from nsfw.known.match import Match
from nsfw.models.registry import ModelRegistry
from nsfw.models.runner import Runner
from nsfw.settings import Settings
from nsfw.verdict import nsfw_score

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Classification:
    model: str
    scores: dict[str, float]  # class name -> probability, for the chosen frame
    image_format: str
    width: int
    height: int
    frames: int  # frames classified (1 for a still image)
    timings_ms: dict[str, float]  # stage name -> milliseconds, for this call
    cached: bool = False
    size: int = 0  # bytes of the image as classified (downloaded or uploaded)
    video: VideoSummary | None = None  # a video's duration_s, codec, frames_decoded, frames_classified
    timeline: tuple[dict[str, Any], ...] = ()  # a video's classified frames: {"t": seconds, "scores": {...}}, in order
    sha256: str = ""  # hex digest of those bytes (the review queue's key); not kept in the cache
    pdq: Pdq | None = None  # the perceptual hash of the answered frame (always set by the Detector)
    frames_pdq: tuple[Pdq, ...] = ()  # every classified frame's Pdq in order (an animation's, a video's timeline)
    match: Match | None = None  # known content this hash matched (Detector.match_with); never cached


class Matcher:
    """Known content, consulted by the core through this interface only (``Detector.match_with``).

    ``rejected`` runs on the request thread once the image is decoded and hashed, before inference:
    a match raises ``ListedContent`` and nothing of the image is classified, cached or observed.
    ``match`` gives what else the hash matches (a review decision, an ``adult`` or ``safe`` list).
    Both must answer from memory in about a millisecond: no database on the request path.
    """

    def rejected(self, pdq: Pdq) -> Match | None:
        """The ``reject`` list entry this hash is within reach of, or None."""
        return None

    def match(self, pdq: Pdq) -> Match | None:
        """The review decision, or else the ``adult``/``safe`` list entry, this hash matches."""
        return None


class Observer:
    """The core's one extension point: something that watches its work without changing the answer.

    The web layer's metrics count downloads; the review queue queues sightings. An observer is given
    to :meth:`Detector.observe` by whoever builds the Detector; every method runs on the request thread
    after the work it reports and must not block (hand work to a thread of your own). An exception in
    ``classified`` is logged and never costs the answer. Override what you need; the rest do nothing.
    """

    #: True when ``classified`` must see every result, cached ones too, with the model input when it was
    #: computed for the call. Costs a sha256 per image even with the result cache off.
    wants_results: bool = False

    def fetched(self, size: int) -> None:
        """A download of ``size`` bytes finished."""

    def queued(self, depth: int) -> None:
        """``depth`` images now wait for a decoder (called under the decoder pool's lock: be quick)."""

    def classified(self, result: Classification, url: str | None, model_input: np.ndarray | None) -> None:
        """``result`` was answered for ``url`` (None for an upload); ``model_input`` is the answered frame's
        input tensor when this call ran the model, None when it came from the cache."""

    def decoder(self, event: str) -> None:
        """A decoder process ``"started"``, or ended: ``"deadline"`` (killed at the request's deadline),
        ``"cpu"`` or ``"memory"`` (over its budget), ``"crashed"`` or ``"abandoned"`` (its caller stopped)."""

    def close(self) -> None:
        """The Detector is closing: stop background work."""


class Detector:
    """Fetches, decodes and classifies images; one instance per worker process.

    Every call is held to a deadline (``NSFW_REQUEST_TIMEOUT`` unless the caller passes
    one) that covers the download, the wait for a decoder, decoding and inference. Work
    is admitted, not queued without end: at most ``NSFW_MAX_DOWNLOADS`` downloads and
    ``NSFW_DECODERS + NSFW_QUEUE_DEPTH`` images waiting for or in a decoder at once;
    past that a call fails at once with ``Overloaded`` (503 with Retry-After).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = ModelRegistry(settings)
        self.cache = cache.build(settings, _encode, _decode)
        self.fetcher = Fetcher(settings)
        self.decoders = DecoderPool(settings, on_queue=self._queued, on_decoder=self._decoder)
        self._downloads = threading.BoundedSemaphore(settings.max_downloads)
        # Inference runs on NSFW_INTERPRETERS dedicated threads: more at once than
        # interpreters only adds GIL contention, and running it on every request thread
        # gave each thread its own glibc heap (measured: RSS 167 MB per worker, not 120).
        # The thread starts on first use, after the fork.
        self._cpu = ThreadPoolExecutor(
            settings.interpreters, thread_name_prefix="nsfw-cpu", initializer=_name_os_thread, initargs=("nsfw-cpu",)
        )
        self._observers: list[Observer] = []
        self._watching_results = False  # any observer of classifications: the cache path then runs
        self._matcher: Matcher | None = None

    def match_with(self, matcher: Matcher) -> None:
        """Consult ``matcher`` for every image (see :class:`Matcher`); call before the first classification."""
        self._matcher = matcher
        self._watching_results = True  # a cached result's hash is checked too

    def observe(self, observer: Observer) -> None:
        """Add ``observer`` (see :class:`Observer`); call before the first classification."""
        self._observers.append(observer)
        self._watching_results = self._watching_results or observer.wants_results

    def _decoder(self, event: str) -> None:
        for observer in self._observers:
            observer.decoder(event)

    def _queued(self, depth: int) -> None:
        for observer in self._observers:
            observer.queued(depth)

    @property
    def ready(self) -> bool:
        return self.models.ready

    def load(self) -> None:
        """Load and warm every model and start the decoders; call after the fork, never at import."""
        self.models.load_all()
        self.decoders.start()

    def deadline(self) -> float:
        """A new request's deadline, on the ``time.monotonic`` clock."""
        return time.monotonic() + self.settings.request_timeout

    def classify_url(self, url: str, model: str | None = None, deadline: float | None = None) -> Classification:
        runner = self.models.get(model)  # an unknown model fails before any download
        deadline = deadline or self.deadline()
        started = time.perf_counter()
        data = self.download(url, deadline)
        return self._classify(data, runner, {"fetch": _ms(started)}, deadline, url)

    def download(self, url: str, deadline: float) -> bytes:
        """The body at ``url``, under the worker's NSFW_MAX_DOWNLOADS and the byte caps."""
        if not self._downloads.acquire(blocking=False):
            raise Overloaded("too many downloads in progress")
        try:
            with self.fetcher.fetch(url, deadline=deadline, cap_for=self._byte_cap) as body:
                data = body.read()
        finally:
            self._downloads.release()
        for observer in self._observers:
            observer.fetched(len(data))
        return data

    def classify_bytes(
        self, data: bytes | BinaryIO, model: str | None = None, deadline: float | None = None
    ) -> Classification:
        runner = self.models.get(model)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data = data.read()
        return self._classify(bytes(data), runner, {}, deadline or self.deadline())

    def classify_many(
        self, sources: Sequence[str | bytes], model: str | None = None, deadline: float | None = None
    ) -> list[Classification | ServiceError]:
        """Classify URLs (str) and images (bytes), at most NSFW_BATCH_CONCURRENCY at a time;
        each entry of the answer is a Classification or the ServiceError it met.

        The threads are this call's own, so one batch waiting on slow servers never delays
        another request; its downloads still count against the worker's NSFW_MAX_DOWNLOADS.
        """
        self.models.get(model)  # an unknown model fails the whole request, before any work
        deadline = deadline or self.deadline()

        def classify(source: str | bytes) -> Classification:
            if isinstance(source, str):
                return self.classify_url(source, model, deadline)
            return self.classify_bytes(source, model, deadline)

        return self.each(sources, classify)

    def each(self, sources: Sequence[str | bytes], work: Callable[[str | bytes], T]) -> list[T | ServiceError]:
        """``work(source)`` for every source, at most NSFW_BATCH_CONCURRENCY at a time, in order; a
        ServiceError (or, for a bug, a plain one) in place of what failed."""

        def one(source: str | bytes) -> T | ServiceError:
            try:
                return work(source)
            except ServiceError as exc:
                return exc
            except Exception:  # a bug must cost one item, not the batch
                log.exception("unexpected error classifying one item of a batch")
                return ServiceError()

        if len(sources) <= 1:
            return [one(source) for source in sources]
        workers = min(self.settings.batch_concurrency, len(sources))
        with ThreadPoolExecutor(workers, thread_name_prefix="nsfw-batch") as pool:
            return list(pool.map(one, sources))

    @property
    def video_bytes(self) -> int:
        """The byte cap of a video upload; 0 when this install takes no video (no PyAV)."""
        return self.settings.max_video_bytes if video.available() else 0

    def _byte_cap(self, head: bytes | None) -> tuple[int, str]:
        """The size cap for a body that starts with ``head`` (videos have their own); None: the larger."""
        if not video.available():
            return self.settings.max_bytes, "image"
        if head is None:
            return max((self.settings.max_bytes, "image"), (self.settings.max_video_bytes, "video"))
        if video_headers.sniff(head[: video_headers.HEAD_BYTES]):
            return self.settings.max_video_bytes, "video"
        return self.settings.max_bytes, "image"

    def close(self) -> None:
        for observer in self._observers:
            observer.close()
        self.fetcher.close()
        self.decoders.close()
        self.cache.close()
        self._cpu.shutdown(wait=False, cancel_futures=True)

    def _classify(
        self, data: bytes, runner: Runner, timings: dict[str, float], deadline: float, url: str | None = None
    ) -> Classification:
        computed: list[np.ndarray] = []  # the model input, when this call ran the model (the review queue's thumbnail)
        if self.cache.size <= 0 and not self._watching_results:
            result = self._run(data, runner, deadline, computed)
            return dataclasses.replace(result, timings_ms={**timings, **result.timings_ms})
        started = time.perf_counter()
        digest = hashlib.sha256(data).digest()
        key: tuple[Hashable, ...] = (digest, runner.spec.name)
        if self.settings.fast_decode:  # its scores differ slightly: never shared with exact instances
            key += ("fast",)
        result, cached = self.cache.get_or_compute(key, lambda: self._run(data, runner, deadline, computed))
        if cached:
            self._reject(_hashes(result))  # a list may have been added since it was cached
            result = dataclasses.replace(
                result, cached=True, timings_ms={**timings, "cache": _ms(started)}, sha256=digest.hex()
            )
        else:
            if result.video is not None:  # a video's hash is known once its frames are classified
                self._reject(_hashes(result))
            result = dataclasses.replace(result, timings_ms={**timings, **result.timings_ms}, sha256=digest.hex())
        if self._matcher is not None and result.pdq is not None:
            result = dataclasses.replace(result, match=self._matcher.match(result.pdq))
        for observer in self._observers:
            try:
                observer.classified(result, url, computed[0] if computed else None)
            except Exception:  # the answer is computed; nothing after it may cost it
                log.exception("an observer of classifications failed")
        return result

    def _reject(self, hashes: Iterable[Pdq]) -> None:
        """ListedContent when any frame's hash is on a ``reject`` list: nothing of the image goes further.
        The log line names the hash and the list, never the URL or a byte of the image."""
        if self._matcher is None:
            return
        for pdq in hashes:
            found = self._matcher.rejected(pdq)
            if found is not None:
                log.info("listed content refused: pdq %s on list %s at %d bits", pdq.hash, found.list, found.distance)
                raise ListedContent(found.to_dict())

    def _run(
        self, data: bytes, runner: Runner, deadline: float, computed: list[np.ndarray] | None = None
    ) -> Classification:
        if video_headers.sniff(data[: video_headers.HEAD_BYTES]):
            return self._run_video(data, runner, deadline)
        submitted = time.perf_counter()
        image = self.decoders.prepare(data, runner.input_size, deadline)
        self._reject(image.pdq)  # every frame's hash, before inference: a listed image is never classified
        timings = {"queue": 0.0, "decode": image.decode_ms, "preprocess": image.preprocess_ms}

        def infer() -> tuple[list[np.ndarray], float]:
            if time.monotonic() >= deadline:  # dropped, never computed
                raise DeadlineExceeded()
            started = time.perf_counter()
            probs = [runner.predict(tensor) for tensor in image.tensors]
            return probs, _ms(started)

        future = self._cpu.submit(infer)
        try:
            all_probs, timings["inference"] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            raise DeadlineExceeded() from None
        # whatever of the call was not decoding, preprocessing or inference was waiting
        timings["queue"] = round(max(0.0, _ms(submitted) - sum(timings.values())), 3)

        frames = [{name: float(p) for name, p in zip(runner.classes, probs)} for probs in all_probs]
        best_frame = max(range(len(frames)), key=lambda frame: nsfw_score(frames[frame]))  # the first of equals
        if computed is not None and self._watching_results:
            computed.append(image.tensors[best_frame])
        return Classification(
            model=runner.spec.name,
            scores=frames[best_frame],
            image_format=image.format,
            width=image.width,
            height=image.height,
            frames=len(image.tensors),
            timings_ms=timings,
            size=len(data),
            pdq=image.pdq[best_frame],
            frames_pdq=image.pdq,
        )

    def _run_video(self, data: bytes, runner: Runner, deadline: float) -> Classification:
        """A video's frames are classified as the decoder hands them over, worst frame answered.

        With NSFW_VIDEO_STOP_AT_ADULT the first frame whose nsfw score reaches the adult
        threshold stops the decoder: no further frame is decoded or classified.
        """
        require_video()
        submitted = time.perf_counter()
        timeline: list[dict[str, Any]] = []
        spent = [0.0]
        stop_at = self.settings.adult_threshold if self.settings.video_stop_at_adult else None

        def infer(tensor: np.ndarray) -> tuple[np.ndarray, float]:
            if time.monotonic() >= deadline:
                raise DeadlineExceeded()
            started = time.perf_counter()
            probs = runner.predict(tensor)
            return probs, _ms(started)

        def on_frame(tensor: np.ndarray, t: float, pdq: Pdq) -> bool:
            future = self._cpu.submit(infer, tensor)
            try:
                probs, ms = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                future.cancel()
                raise DeadlineExceeded() from None
            spent[0] += ms
            scores = {name: float(p) for name, p in zip(runner.classes, probs)}
            timeline.append({"t": t, "scores": scores, "pdq": pdq})
            return stop_at is None or nsfw_score(scores) < stop_at

        prepared = self.decoders.prepare(data, runner.input_size, deadline, on_frame)
        if prepared.video is None:  # a decoder subverted by the video answered as for an image
            raise CorruptVideo("the decoder answered nonsense")
        timings = {
            "queue": 0.0,
            "decode": prepared.decode_ms,
            "preprocess": prepared.preprocess_ms,
            "inference": round(spent[0], 3),
        }
        timings["queue"] = round(max(0.0, _ms(submitted) - sum(timings.values())), 3)
        worst = max(timeline, key=lambda frame: nsfw_score(frame["scores"]))  # the first of equals
        return Classification(
            model=runner.spec.name,
            scores=worst["scores"],
            image_format=prepared.format,
            width=prepared.width,
            height=prepared.height,
            frames=len(timeline),
            timings_ms=timings,
            size=len(data),
            video={**prepared.video, "frames_classified": len(timeline)},
            timeline=tuple(timeline),
            pdq=worst["pdq"],
            frames_pdq=tuple(frame["pdq"] for frame in timeline),
        )


def require_video() -> None:
    """VideoUnsupported unless PyAV is installed."""
    if not video.available():
        raise VideoUnsupported(f"this service was installed without video support: {hint('video')}")


def _encode(result: Classification) -> bytes:
    """A result as the shared (Redis) cache keeps it: JSON, without this call's timings."""
    fields = dataclasses.asdict(result)
    del fields["timings_ms"], fields["cached"], fields["sha256"], fields["match"]
    return json.dumps(fields, separators=(",", ":")).encode()


def _decode(raw: bytes) -> Classification:
    fields = json.loads(raw)
    fields["timeline"] = tuple(_with_pdq(frame) for frame in fields.get("timeline") or ())
    # an entry cached before hashes were computed has none: a KeyError, so it is computed again
    fields["pdq"] = Pdq.parse(fields["pdq"])
    fields["frames_pdq"] = tuple(Pdq.parse(value) for value in fields["frames_pdq"])
    return Classification(**fields, timings_ms={})


def _with_pdq(frame: dict[str, Any]) -> dict[str, Any]:
    """A video timeline item as cached (its hash a dict) as it was computed (a Pdq)."""
    if frame.get("pdq") is not None:
        return {**frame, "pdq": Pdq.parse(frame["pdq"])}
    return frame


def _hashes(result: Classification) -> tuple[Pdq, ...]:
    """Every classified frame's hash (an animation's, a video's), or the answered frame's."""
    return tuple(result.frames_pdq) or ((result.pdq,) if result.pdq is not None else ())


def _name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS too (``top -H``, ``/proc/<pid>/task/*/comm``, profilers),
    so the inference thread's CPU can be told from the request threads' (bench/cpu_split.py)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME; Linux only, and harmless to miss
    except (OSError, AttributeError):
        pass


def _ms(start: float, end: float | None = None) -> float:
    end = time.perf_counter() if end is None else end
    return round((end - start) * 1000.0, 3)
