"""One ``nsfw classify`` run's moving parts in the parent: a reader, a dispatcher, the downloads.

The reader thread pulls sources (it may block on a slow standard input) into ``ahead``; the
dispatcher makes tasks of them (a chunk of files for a worker, or a URL for a download
thread), each holding one of ``window`` slots; every task ends as one message on
``results``, which ``drain`` reads in the caller's thread to write records. Stopping
(``stop`` set) stops taking new sources; every task already counted still gets its message.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from nsfw.batch import records, worker
from nsfw.batch.inputs import is_url
from nsfw.errors import ServiceError
from nsfw.settings import Settings

if TYPE_CHECKING:
    from nsfw.fetch.fetcher import Fetcher

log = logging.getLogger(__name__)

# Files per task sent to a worker: enough that a worker never waits for the parent, few enough
# that Ctrl-C finishes quickly.
CHUNK = 8
POLL_S = 0.1  # how often a waiting thread looks at ``stop``
_END = object()


class WorkerLost(RuntimeError):
    """A worker process died; the sources it held have no record, so --resume retries them."""


class Flow:
    def __init__(
        self,
        settings: Settings,
        model: str | None,
        pools: tuple[concurrent.futures.ProcessPoolExecutor, concurrent.futures.ThreadPoolExecutor, Fetcher],
        window: int,
        stop: threading.Event,
    ):
        self.settings, self.model, self.stop = settings, model, stop
        self.procs, self.threads, self.fetcher = pools
        self.results: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ahead: queue.Queue[Any] = queue.Queue(maxsize=CHUNK * 2)  # sources read, not yet dispatched
        self.slots = threading.BoundedSemaphore(window)  # one per task: a chunk of files or a URL
        self.lock = threading.Lock()
        self.tasks = 0  # handed to the pools; guarded by lock, frozen once stop is set

    def start(self, sources: Iterable[str]) -> None:
        # daemons: the reader may be blocked on standard input when stop is set; it is left behind
        threading.Thread(target=self._read, args=(sources,), name="nsfw-read", daemon=True).start()
        threading.Thread(target=self._dispatch, name="nsfw-dispatch", daemon=True).start()

    # --- the caller's thread -------------------------------------------------------------
    def drain(self, emit: Callable[[list], None], idle: Callable[[], None]) -> None:
        """Emit records until every task counted has answered (and, unless stopped, every source
        was dispatched); ``WorkerLost`` if a worker died, the reader's error if reading failed."""
        received, dispatched, lost, error = 0, False, 0, None
        while True:
            with self.lock:
                stopping, total = self.stop.is_set(), self.tasks
            if (dispatched or stopping) and received == total:
                break
            try:
                kind, value = self.results.get(timeout=POLL_S)
            except queue.Empty:
                idle()
                continue
            if kind == "dispatched":
                dispatched = True
            elif kind == "error":
                error = value
                self.stop.set()
            else:
                received += 1
                self.slots.release()
                if kind == "lost":
                    lost += value
                    self.stop.set()
                else:
                    emit(value)
        if lost:
            raise WorkerLost(f"a worker process died: {lost} sources in flight have no record")
        if error is not None:
            raise error

    # --- the reader ------------------------------------------------------------------------
    def _read(self, sources: Iterable[str]) -> None:
        """Sources into ``ahead``; may block on a slow input, so it is a thread of its own."""
        try:
            for source in sources:
                if not self._put(source):
                    return
        except Exception as exc:  # noqa: BLE001 - e.g. a list file that fails half-way
            self.results.put(("error", exc))
        finally:
            while True:  # the end, unless nobody will read it any more
                try:
                    self.ahead.put(_END, timeout=POLL_S)
                    break
                except queue.Full:
                    if self.stop.is_set():
                        break

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.ahead.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                pass
        return False

    # --- the dispatcher --------------------------------------------------------------------
    def _dispatch(self) -> None:
        try:
            for chunk in self._chunks():
                with self.lock:
                    if self.stop.is_set():
                        return
                    self.tasks += 1
                if is_url(chunk[0]):
                    self.threads.submit(self._download, chunk[0])
                else:
                    self._classify(chunk, worker.classify_files, chunk, self.model)
        finally:
            self.results.put(("dispatched", None))

    def _chunks(self) -> Iterator[list[str]]:
        """A URL alone, or up to CHUNK files that the sources give without waiting (a slow
        standard input yields chunks of one), each once a slot is free; ends on stop or _END."""
        held = None  # a URL (or the end) met while filling a chunk of files
        while True:
            while not self.slots.acquire(timeout=POLL_S):
                if self.stop.is_set():
                    return
            source, held = held, None
            while source is None:
                try:
                    source = self.ahead.get(timeout=POLL_S)
                except queue.Empty:
                    if self.stop.is_set():
                        return
            if source is _END:
                return
            chunk = [source]
            while not is_url(source) and len(chunk) < CHUNK:
                try:
                    more = self.ahead.get_nowait()
                except queue.Empty:
                    break
                if more is _END or is_url(more):
                    held = more
                    break
                chunk.append(more)
            yield chunk

    def _classify(self, chunk: list[str], task: Callable[..., list[dict]], *args: Any) -> None:
        try:
            future = self.procs.submit(task, *args)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by an abort
            self.results.put(("lost", len(chunk)))
            return
        future.add_done_callback(lambda f: self._finish(chunk, f))

    def _finish(self, chunk: list[str], future: concurrent.futures.Future) -> None:
        if future.cancelled():  # an abort (a second Ctrl-C): nobody waits for these
            return
        try:
            self.results.put(("records", future.result()))
        except BrokenProcessPool:
            self.results.put(("lost", len(chunk)))
        except BaseException as exc:  # noqa: BLE001 - a bug costs records, not the run
            log.error("classifying %s failed: %r", chunk, exc)
            self.results.put(("records", [records.from_error(source, ServiceError()) for source in chunk]))

    # --- a download thread -----------------------------------------------------------------
    def _download(self, url: str) -> None:
        try:
            deadline = time.monotonic() + self.settings.request_timeout
            with self.fetcher.fetch(url, deadline=deadline) as body:
                data = body.read()
        except ServiceError as exc:
            self.results.put(("records", [records.from_error(url, exc)]))
            return
        except Exception as exc:  # noqa: BLE001
            log.error("downloading %s failed: %r", url, exc)
            self.results.put(("records", [records.from_error(url, ServiceError())]))
            return
        self._classify([url], worker.classify_data, url, data, self.model)
