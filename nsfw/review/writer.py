"""Sightings queued off the request path: a bounded buffer, and the one thread that writes it.

``Review.classified`` hands each sighting here with the thumbnail (a JPEG of a few kB, made here,
about a millisecond) for an image this worker has not queued lately, never the model's input
(600 kB of floats: 256 of them once took a worker from 133 to 322 MB while the database was slow).
The buffer is bounded in sightings and in bytes (:data:`BUFFER_BYTES`); a background thread writes
it to the database. When the buffer is full, or the database is down, the sighting is dropped and
counted (``nsfw_review_events``): queueing never fails a classification.

Retention (``ReviewStore.prune``) and the item cap run on the writer thread too: retention at most
once an hour per process, the cap every :data:`CAP_EVERY` new items.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from nsfw.breaker import Breaker
from nsfw.observe import metrics
from nsfw.review import thumbnails
from nsfw.review.items import Sighting
from nsfw.review.store import ReviewStore

log = logging.getLogger(__name__)

BUFFER = 256  # sightings waiting for the writer
BUFFER_BYTES = 2 * 1024 * 1024  # what they may hold in all: thumbnails and the sightings themselves
SIGHTING_BYTES = 1024  # what one costs beside its thumbnail (a generous estimate: URL, scores, objects)
RECENT = 4096  # sha256s this worker has queued lately: a repeat needs no thumbnail
PRUNE_EVERY_S = 3600.0
CAP_EVERY = 100  # new items between two checks of NSFW_REVIEW_MAX_ITEMS (so it is passed by fewer, per worker)
_STOP = object()


class SightingWriter:
    """The buffer and its writer thread, started by the first sighting; ``breaker`` is the queue's
    (a write that fails opens it, and sightings are dropped while it is open); ``on_start`` runs once
    with the thread (the webhook's sender starts then)."""

    def __init__(self, store: ReviewStore, breaker: Breaker, on_start: Callable[[], None] | None = None) -> None:
        self.store = store
        self.breaker = breaker
        self.on_start = on_start
        self._buffer: queue.Queue[Any] = queue.Queue(BUFFER)
        self._buffered = 0  # bytes in the buffer
        self._buffer_lock = threading.Lock()
        self._recent: OrderedDict[str, None] = OrderedDict()  # sha256s recorded lately (the writer's)
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._next_prune = 0.0  # time.monotonic(); the first round prunes
        self._new_items = 0  # since the item cap was last checked

    def offer(self, sighting: Sighting, model_input: Any, width: int, height: int) -> None:
        """Buffer a sighting (with a thumbnail from ``model_input`` unless queued lately); never blocks."""
        self.start()
        if self._buffered + SIGHTING_BYTES > BUFFER_BYTES:  # full: not even the thumbnail is made
            metrics.review("dropped")
            return
        jpeg = None
        if model_input is not None and sighting.sha256 not in self._recent:
            jpeg = thumbnails.from_model_input(model_input, width, height)
        size = SIGHTING_BYTES + len(sighting.source or "") + len(jpeg or b"")
        with self._buffer_lock:
            if self._buffered + size > BUFFER_BYTES:
                metrics.review("dropped")
                return
            self._buffered += size
        try:
            self._buffer.put_nowait((sighting, jpeg, size))
        except queue.Full:
            self._took(size)
            metrics.review("dropped")

    def _took(self, size: int) -> None:
        with self._buffer_lock:
            self._buffered -= size

    def start(self) -> None:
        if self._writer is not None:
            return
        with self._start_lock:
            if self._writer is None and not self._closed:
                self._writer = threading.Thread(target=self._write_loop, name="nsfw-review-writer", daemon=True)
                self._writer.start()
                if self.on_start is not None:
                    self.on_start()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every sighting queued so far is written (tests, shutdown)."""
        done = threading.Event()
        if self._writer is None:
            return
        self._buffer.put((done, None, 0), timeout=timeout)
        done.wait(timeout)

    def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            try:
                self._buffer.put(_STOP, timeout=5)
            except queue.Full:
                pass
            self._writer.join(timeout=10)

    def _write_loop(self) -> None:
        while True:
            try:
                job = self._buffer.get(timeout=60)
            except queue.Empty:
                job = None
            if job is _STOP:
                return
            if job is not None:
                if isinstance(job[0], threading.Event):
                    job[0].set()
                    continue
                self._took(job[2])
                self._write(job[0], job[1])
            self._maybe_prune()

    def _write(self, sighting: Sighting, jpeg: bytes | None) -> None:
        if self.breaker.open:
            metrics.review("dropped")
            return
        try:
            new = self.store.record(sighting, lambda: jpeg)
        except Exception as exc:
            metrics.review("store_error")
            self.breaker.failed(exc)
            return
        self.breaker.succeeded()
        self._recent[sighting.sha256] = None
        self._recent.move_to_end(sighting.sha256)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        metrics.review("queued" if new else "seen")
        if new:
            self._new_items += 1
            if self._new_items >= CAP_EVERY:
                self._cap()

    def _cap(self) -> None:
        """NSFW_REVIEW_MAX_ITEMS, then a WAL checkpoint (SQLite) so what was deleted leaves no big file."""
        self._new_items = 0
        try:
            capped = self.store.cap()
            self.store.checkpoint()
        except Exception as exc:
            log.warning("review queue: the item cap could not be kept (%s: %s)", type(exc).__name__, exc)
            return
        if capped:
            metrics.review("capped_items", capped)
            log.info("review queue: %d undecided items deleted, oldest first (NSFW_REVIEW_MAX_ITEMS)", capped)

    def _maybe_prune(self) -> None:
        if time.monotonic() < self._next_prune or self.breaker.open:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            pruned = self.store.prune()
        except Exception as exc:
            log.warning("review queue: retention could not run (%s: %s)", type(exc).__name__, exc)
            return
        self._cap()
        try:
            self.store.sessions.prune()
        except Exception as exc:
            log.warning("review queue: expired sessions could not be deleted (%s: %s)", type(exc).__name__, exc)
        metrics.review("pruned_items", pruned.items)
        metrics.review("pruned_thumbnails", pruned.thumbnails)
        if pruned.items or pruned.thumbnails:
            log.info("review queue: retention deleted %d items and %d thumbnails", pruned.items, pruned.thumbnails)
