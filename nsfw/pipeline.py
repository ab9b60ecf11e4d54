"""The core: url or image bytes in, five scores out.

This is the library API the HTTP layer and the CLI share. Data flows one way:
fetch -> decode -> preprocess -> model. The downloaded file lives only as long
as decoding needs it; nothing here knows about Flask.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from typing import BinaryIO

from .decode import decode
from .fetch import Fetcher
from .model import Model, ModelSpec
from .preprocess import to_model_input
from .settings import Settings

NSFW_CLASSES = ("hentai", "porn", "sexy")


@dataclasses.dataclass(frozen=True)
class Classification:
    scores: dict            # class name -> probability, for the chosen frame
    image_format: str
    width: int
    height: int
    frames: int             # frames classified (1 for a still image)
    timings_ms: dict        # stage name -> milliseconds

    @property
    def nsfw(self) -> float:
        return sum(self.scores[name] for name in NSFW_CLASSES)


class Detector:
    """Fetches, decodes and classifies images; one instance per worker process."""

    def __init__(self, settings: Settings, model_name: str = "mobilenet_v2"):
        self.settings = settings
        self.model_name = model_name
        self._model: Model | None = None
        self._fetcher: Fetcher | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._model is not None

    def load(self) -> Model:
        """Load and warm the model once; call after the fork, never at import."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    spec = ModelSpec.from_manifest(self.settings.model_dir, self.model_name)
                    model = Model(
                        spec,
                        threads=self.settings.inference_threads,
                        pool_size=self.settings.interpreters,
                    )
                    model.load()
                    self._model = model
        return self._model

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            with self._lock:
                if self._fetcher is None:
                    self._fetcher = Fetcher(self.settings)
        return self._fetcher

    def classify_url(self, url: str) -> Classification:
        started = time.perf_counter()
        with self.fetcher.fetch(url) as body:
            fetched = time.perf_counter()
            return self._classify(body, {"fetch": _ms(started, fetched)}, fetched)

    def classify_bytes(self, data: bytes | BinaryIO) -> Classification:
        body = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
        return self._classify(body, {}, time.perf_counter())

    def _classify(self, body: BinaryIO, timings: dict, started: float) -> Classification:
        model = self.load()
        image = decode(body, self.settings)
        decoded = time.perf_counter()
        timings["decode"] = _ms(started, decoded)
        timings["preprocess"] = timings["inference"] = 0.0

        best, best_nsfw = None, -1.0
        for frame in image.frames:
            t0 = time.perf_counter()
            tensor = to_model_input(frame, model.input_size)
            t1 = time.perf_counter()
            probs = model.predict(tensor)
            t2 = time.perf_counter()
            timings["preprocess"] += _ms(t0, t1)
            timings["inference"] += _ms(t1, t2)
            scores = {name: float(p) for name, p in zip(model.classes, probs)}
            total = sum(scores[name] for name in NSFW_CLASSES)
            if total > best_nsfw:
                best, best_nsfw = scores, total

        return Classification(
            scores=best,
            image_format=image.format,
            width=image.width,
            height=image.height,
            frames=len(image.frames),
            timings_ms=timings,
        )

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 3)
