"""The Detector: url or image bytes in, scores out, each call held to its deadline and admitted, not queued.

Data flows one way: fetch -> decode -> preprocess -> model. The downloaded file lives only as long
as reading it takes; results are remembered by image content (``cache.py``), so the same picture
behind another URL is not classified twice. Nothing here knows about Flask.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, TypeVar

import numpy as np

from nsfw import cache
from nsfw.errors import ListedContent, Overloaded, ServiceError
from nsfw.fetch.fetcher import Fetcher
from nsfw.imaging import video, video_headers
from nsfw.imaging.pdq import Pdq
from nsfw.imaging.sandbox import DecoderPool
from nsfw.models.registry import ModelRegistry
from nsfw.models.runner import Runner
from nsfw.pipeline import cached
from nsfw.pipeline.inference import cpu_pool, elapsed_ms, on_cpu, predict
from nsfw.pipeline.interface import Classification, Matcher, Observer
from nsfw.pipeline.video import classify_video
from nsfw.settings import Settings
from nsfw.verdict import nsfw_score

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self.cache = cache.build(settings, cached.encode, cached.decode)
        self.fetcher = Fetcher(settings)
        self.decoders = DecoderPool(settings, on_queue=self._queued, on_decoder=self._decoder)
        self._downloads = threading.BoundedSemaphore(settings.max_downloads)
        # Inference runs on NSFW_INTERPRETERS dedicated threads: more at once than
        # interpreters only adds GIL contention, and running it on every request thread
        # gave each thread its own glibc heap (measured: RSS 167 MB per worker, not 120).
        # The thread starts on first use, after the fork.
        self._cpu = cpu_pool(settings.interpreters)
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
        return self._classify(data, runner, {"fetch": elapsed_ms(started)}, deadline, url)

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
        result, from_cache = self.cache.get_or_compute(key, lambda: self._run(data, runner, deadline, computed))
        if from_cache:
            self._reject(_hashes(result))  # a list may have been added since it was cached
            result = dataclasses.replace(
                result, cached=True, timings_ms={**timings, "cache": elapsed_ms(started)}, sha256=digest.hex()
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

        all_probs, timings["inference"] = on_cpu(self._cpu, lambda: predict(runner, image.tensors, deadline), deadline)
        # whatever of the call was not decoding, preprocessing or inference was waiting
        timings["queue"] = round(max(0.0, elapsed_ms(submitted) - sum(timings.values())), 3)

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
        """A video's frames, classified on the inference thread as the decoder hands them over."""
        stop_at = self.settings.adult_threshold if self.settings.video_stop_at_adult else None

        def infer(tensor: np.ndarray) -> tuple[np.ndarray, float]:
            probs, ms = on_cpu(self._cpu, lambda: predict(runner, (tensor,), deadline), deadline)
            return probs[0], ms

        return classify_video(data, runner, deadline, self.decoders, infer, stop_at)


def _hashes(result: Classification) -> tuple[Pdq, ...]:
    """Every classified frame's hash (an animation's, a video's), or the answered frame's."""
    return tuple(result.frames_pdq) or ((result.pdq,) if result.pdq is not None else ())
