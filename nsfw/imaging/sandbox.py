"""The decoder processes of one worker, and which image gets one when.

Every image is decoded and preprocessed in a decoder process (``nsfw.imaging.decoder``) held
to a CPU and a memory budget, so a hostile image costs the worker nothing but a wait, and the
worker never holds full-size pixels. This module starts those processes (each a
``decoder_process.DecoderProcess``), replaces the ones that die or are killed, and schedules
images onto them:

* at most ``NSFW_DECODERS + NSFW_QUEUE_DEPTH`` images per worker are decoding or waiting;
  the next one is refused at once (``Overloaded``, 503) instead of queueing without end;
* waiting images are served smallest first (by the size their headers state), and a full
  queue sheds its largest image for a smaller newcomer;
* one express decoder takes only images of up to ``EXPRESS_PIXELS``, so an ordinary photo
  finds a decoder within one small image's budget whatever else is queued;
* a decode still running at the request's deadline is killed (``DeadlineExceeded``, 504).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable

from nsfw.errors import DeadlineExceeded, Overloaded
from nsfw.imaging import confinement
from nsfw.imaging.decoder_process import DecoderProcess
from nsfw.imaging.headers import image_size, pixel_cap
from nsfw.imaging.wire import OnFrame, Prepared
from nsfw.settings import Settings

log = logging.getLogger(__name__)
# The express decoder takes images of at most this many pixels (2048 x 2048), with a heap
# to match (64 MB + 16 bytes a pixel for a WebP).
EXPRESS_PIXELS = 4 * 1024 * 1024
EXPRESS_MEMORY_MB = 192


class DecoderPool:
    """Decoder processes of one worker, started lazily and replaced when one is killed.

    ``prepare`` waits for an idle decoder at most until the caller's deadline. Waiting
    images are served smallest first (by the pixel count their headers state), so a
    photo is never stuck behind a queue of 50-megapixel decodes; at most
    ``NSFW_QUEUE_DEPTH`` may wait, and when the queue is full a smaller newcomer takes
    the place of the largest waiting image, which gets ``Overloaded`` (503) at once.

    Besides the ``NSFW_DECODERS`` general decoders there is one express decoder for
    images of at most ``EXPRESS_PIXELS``: whatever large or hostile images occupy the
    others, an ordinary photo finds a decoder within one small image's budget.
    """

    def __init__(
        self,
        settings: Settings,
        on_queue: Callable[[int], None] | None = None,
        on_decoder: Callable[[str], None] | None = None,
    ):
        self._settings = settings
        if not confinement.seccomp_available():
            log.warning(
                "pyseccomp or libseccomp2 is missing: decoders are held to their budgets but may open sockets "
                "and write files (see docs/security-decoder.md)"
            )
        max_pixels = pixel_cap(settings)
        general = _config(settings, max_pixels, settings.decode_memory_mb, video=True)
        express = _config(settings, min(max_pixels, EXPRESS_PIXELS), min(settings.decode_memory_mb, EXPRESS_MEMORY_MB))
        self._idle = [_Slot(general) for _ in range(settings.decoders)]
        self._express = [_Slot(express, express=True)]
        self._waiting: list[_Waiter] = []  # a heap, smallest image first
        self._order = itertools.count()
        self._lock = threading.Lock()
        # Called (under the lock) with the number of waiting images whenever it changes: the caller's
        # (the Detector's observers: the web layer's queue-depth gauge), so this module knows no metrics.
        self._on_queue = on_queue
        # Called with "started" or why a decoder ended (see nsfw.pipeline.Observer.decoder).
        self._on_decoder = on_decoder

    def start(self) -> None:
        """Start every idle decoder now (after the fork), so the first requests do not pay for it."""
        with self._lock:
            slots = self._idle + self._express
            self._idle, self._express = [], []
        try:
            for slot in slots:
                if slot.decoder is None:
                    self._new_decoder(slot)
        finally:
            for slot in slots:
                self._release(slot)

    def prepare(self, data: bytes, size: int, deadline: float, on_frame: OnFrame | None = None) -> Prepared:
        """Decode ``data`` and build its model inputs of ``size``, before ``deadline`` (monotonic).

        A video's frames are handed to ``on_frame(tensor, t, pdq) -> bool`` one at a time as the
        decoder makes them (False stops it); its Prepared then holds no tensors.
        """
        slot = self._acquire(data, deadline)
        try:
            decoder = slot.decoder
            if decoder is None or not decoder.alive():
                self._forget_dead(slot)
                decoder = self._new_decoder(slot)
            return decoder.run(data, size, deadline, self._settings.max_frames, on_frame)
        except BaseException:
            self._forget_dead(slot)
            raise
        finally:
            self._release(slot)

    def _new_decoder(self, slot: _Slot) -> DecoderProcess:
        slot.decoder = DecoderProcess(slot.config)
        self._event("started")
        return slot.decoder

    def _forget_dead(self, slot: _Slot) -> None:
        """A decoder that is no longer alive leaves its slot, and why it ended is reported."""
        if slot.decoder is not None and not slot.decoder.alive():
            self._event(slot.decoder.ended or "crashed")
            slot.decoder = None

    def _event(self, event: str) -> None:
        if self._on_decoder is not None:
            self._on_decoder(event)

    def _acquire(self, data: bytes, deadline: float) -> _Slot:
        dims = image_size(data)
        waiter = _Waiter(dims[0] * dims[1] if dims else 1 << 62, next(self._order))
        with self._lock:
            if waiter.pixels <= EXPRESS_PIXELS and self._express:
                return self._express.pop()
            if self._idle and not self._waiting:
                return self._idle.pop()
            if len(self._waiting) >= self._settings.queue_depth:
                largest = max(self._waiting, default=None)
                if largest is None or not waiter < largest:
                    raise Overloaded("every decoder is busy and the queue is full")
                self._waiting.remove(largest)
                heapq.heapify(self._waiting)
                largest.evicted = True
                largest.ready.set()
            heapq.heappush(self._waiting, waiter)
            self._queue_changed()
        waiter.ready.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if waiter.slot is not None:
                return waiter.slot
            if not waiter.evicted:
                self._waiting.remove(waiter)
                heapq.heapify(self._waiting)
                self._queue_changed()
        if waiter.evicted:
            raise Overloaded("every decoder is busy and smaller images are waiting")
        raise DeadlineExceeded("the request waited too long for a decoder")

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            if self._waiting and (not slot.express or self._waiting[0].pixels <= EXPRESS_PIXELS):
                waiter = heapq.heappop(self._waiting)
                waiter.slot = slot
                waiter.ready.set()
                self._queue_changed()
            else:
                (self._express if slot.express else self._idle).append(slot)

    def _queue_changed(self) -> None:
        if self._on_queue is not None:
            self._on_queue(len(self._waiting))

    def waiting(self) -> int:
        """Images waiting for a decoder now."""
        return len(self._waiting)

    def close(self) -> None:
        with self._lock:
            slots = self._idle + self._express
            self._idle, self._express = [], []
        for slot in slots:
            if slot.decoder is not None:
                slot.decoder.kill()

    def pids(self) -> list[int]:
        """The idle decoder processes alive now (for tests and the benchmark)."""
        with self._lock:
            return [s.decoder.proc.pid for s in self._idle + self._express if s.decoder and s.decoder.alive()]


def _config(settings: Settings, max_pixels: int, memory_mb: int, video: bool = False) -> str:
    config: dict[str, object] = {
        "max_pixels": max_pixels,
        "max_frames": settings.max_frames,
        "cpu_seconds": settings.decode_cpu_s,
        "memory_bytes": memory_mb * 1024 * 1024,
        "fast_decode": settings.fast_decode,
    }
    if video:  # the express decoder never gets a video (its size is not known up front)
        config["video"] = {
            "frames": settings.video_frames,
            "max_pixels": settings.video_max_pixels,
            "max_duration_s": settings.video_max_duration_s,
            "max_decoded_frames": settings.video_max_decoded_frames,
            "cpu_seconds": settings.video_cpu_s,
        }
    return json.dumps(config)


@dataclasses.dataclass(eq=False)
class _Slot:
    """A place for one decoder process (started on first use, replaced after a death)."""

    config: str
    express: bool = False
    decoder: DecoderProcess | None = None


@dataclasses.dataclass(eq=False)
class _Waiter:
    pixels: int
    order: int
    ready: threading.Event = dataclasses.field(default_factory=threading.Event)
    slot: _Slot | None = None
    evicted: bool = False

    def __lt__(self, other: _Waiter) -> bool:
        return (self.pixels, self.order) < (other.pixels, other.order)
