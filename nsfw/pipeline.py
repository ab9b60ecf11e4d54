"""The core: url or image bytes in, scores out.

This is the library API the HTTP layer and the CLI share. Data flows one way:
fetch -> decode -> preprocess -> model. The downloaded file lives only as long
as reading it takes; results are remembered by image content (``cache.py``),
so the same picture behind another URL is not classified twice. Nothing here
knows about Flask.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from nsfw.cache import ResultCache
from nsfw.errors import ServiceError
from nsfw.fetch.fetcher import Fetcher
from nsfw.imaging.decode import decode
from nsfw.imaging.preprocess import to_model_input
from nsfw.models.registry import ModelRegistry
from nsfw.settings import Settings
from nsfw.verdict import nsfw_score

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Classification:
    model: str
    scores: dict  # class name -> probability, for the chosen frame
    image_format: str
    width: int
    height: int
    frames: int  # frames classified (1 for a still image)
    timings_ms: dict  # stage name -> milliseconds, for this call
    cached: bool = False


class Detector:
    """Fetches, decodes and classifies images; one instance per worker process."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = ModelRegistry(settings)
        self.cache = ResultCache(settings.cache_size)
        # Executors start their threads on first use, after the fork; building them here is cheap.
        self.fetcher = Fetcher(settings)
        self._batch = ThreadPoolExecutor(settings.batch_concurrency, thread_name_prefix="nsfw-batch")
        # Request threads overlap downloads; decoding and inference run on NSFW_INTERPRETERS
        # dedicated threads. More of them at once than interpreters only adds GIL contention,
        # and running them on every request thread gave each thread its own glibc heap full of
        # freed image buffers (measured: RSS 167 MB per worker instead of about 120).
        self._cpu = ThreadPoolExecutor(settings.interpreters, thread_name_prefix="nsfw-cpu")

    @property
    def ready(self) -> bool:
        return self.models.ready

    def load(self) -> None:
        """Load and warm every model; call after the fork, never at import."""
        self.models.load_all()

    def classify_url(self, url: str, model: str | None = None) -> Classification:
        runner = self.models.get(model)  # an unknown model fails before any download
        started = time.perf_counter()
        with self.fetcher.fetch(url) as body:
            data = body.read()
        return self._classify(data, runner, {"fetch": _ms(started)})

    def classify_bytes(self, data: bytes | BinaryIO, model: str | None = None) -> Classification:
        runner = self.models.get(model)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data = data.read()
        return self._classify(bytes(data), runner, {})

    def classify_many(self, sources: list, model: str | None = None) -> list:
        """Classify URLs (str) and images (bytes) concurrently, at most NSFW_BATCH_CONCURRENCY
        at a time; each entry of the answer is a Classification or the ServiceError it met."""
        self.models.get(model)  # an unknown model fails the whole request, before any work

        def one(source):
            try:
                if isinstance(source, str):
                    return self.classify_url(source, model)
                return self.classify_bytes(source, model)
            except ServiceError as exc:
                return exc
            except Exception:  # a bug must cost one item, not the batch
                log.exception("unexpected error classifying one item of a batch")
                return ServiceError()

        if len(sources) == 1:
            return [one(sources[0])]
        return list(self._batch.map(one, sources))

    def close(self) -> None:
        self.fetcher.close()
        for pool in (self._batch, self._cpu):
            pool.shutdown(wait=False, cancel_futures=True)

    def _classify(self, data: bytes, runner, timings: dict) -> Classification:
        if self.cache.size <= 0:
            result = self._run(data, runner)
            return dataclasses.replace(result, timings_ms={**timings, **result.timings_ms})
        started = time.perf_counter()
        key = (hashlib.sha256(data).digest(), runner.spec.name)
        result, cached = self.cache.get_or_compute(key, lambda: self._run(data, runner))
        if cached:
            return dataclasses.replace(result, cached=True, timings_ms={**timings, "cache": _ms(started)})
        return dataclasses.replace(result, timings_ms={**timings, **result.timings_ms})

    def _run(self, data: bytes, runner) -> Classification:
        submitted = time.perf_counter()

        def job():
            return self._decode_and_infer(data, runner, {"queue": _ms(submitted)})

        return self._cpu.submit(job).result()

    def _decode_and_infer(self, data: bytes, runner, timings: dict) -> Classification:
        started = time.perf_counter()
        image = decode(data, self.settings)
        timings.update(decode=_ms(started), preprocess=0.0, inference=0.0)

        best, best_nsfw = None, -1.0
        for frame in image.frames:
            t0 = time.perf_counter()
            tensor = to_model_input(frame, runner.input_size)
            t1 = time.perf_counter()
            probs = runner.predict(tensor)
            timings["preprocess"] += _ms(t0, t1)
            timings["inference"] += _ms(t1)
            scores = {name: float(p) for name, p in zip(runner.classes, probs)}
            if (total := nsfw_score(scores)) > best_nsfw:
                best, best_nsfw = scores, total

        return Classification(
            model=runner.spec.name,
            scores=best,
            image_format=image.format,
            width=image.width,
            height=image.height,
            frames=len(image.frames),
            timings_ms=timings,
        )


def _ms(start: float, end: float | None = None) -> float:
    end = time.perf_counter() if end is None else end
    return round((end - start) * 1000.0, 3)
