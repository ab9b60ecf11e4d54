"""Classify many sources on this machine with every core: ``nsfw classify``'s engine.

Work is split three ways:

* ``--jobs`` worker processes (spawned, not forked: the parent has threads), each holding one
  ``Detector`` whose models are loaded once. A worker takes one image at a time: it reads a
  file itself (only the path crosses the process boundary), hands the bytes to its sandboxed
  decoder process and runs inference. One image at a time is deliberate: the worker and its
  decoder then never compete for a core, so N workers keep N cores busy and no more, and
  each needs only ``NSFW_DECODERS=1`` (plus the express decoder) and one interpreter.
* download threads in the parent fetch URLs through the server's own SSRF-safe ``Fetcher``,
  with its limits and the request deadline; the bytes go to a worker once (never to disk
  twice, never pickled twice), so a slow server holds up one thread, not a core.
* the parent's main thread writes records, as they complete (not in input order: a slow URL
  must not hold back a million files), updates the progress bar and counts for the summary.

Memory stays bounded: sources are read lazily and at most ``window`` tasks (a chunk of files
or one URL each) are in flight; records are written as they arrive and never kept. Stopping
(``stop`` set, e.g. by Ctrl-C) stops taking new sources; every source in flight still gets
its record.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import multiprocessing
import os
import queue
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool

from nsfw.batch import records
from nsfw.batch.inputs import is_url
from nsfw.errors import ServiceError, TooLarge
from nsfw.settings import Settings

log = logging.getLogger(__name__)

# Files per task sent to a worker, and tasks queued per worker beyond the one it works on:
# enough that a worker never waits for the parent, few enough that Ctrl-C finishes quickly
# (at most (1 + QUEUED_PER_JOB) * CHUNK images per worker, about half a second of work).
CHUNK = 8
QUEUED_PER_JOB = 2
STARTUP_TIMEOUT_S = 120.0


class StartError(RuntimeError):
    """The worker processes could not load the models (missing or altered files...)."""


class WorkerLost(RuntimeError):
    """A worker process died; the sources it held have no record, so --resume retries them."""


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_settings(settings: Settings) -> Settings:
    """What one worker process needs: it handles one image at a time, so one decoder and one
    interpreter; more would only sit idle or compete with the other workers for cores."""
    return settings.replace(decoders=1, interpreters=1)


class LocalClassifier:
    def __init__(self, settings: Settings, model: str | None, jobs: int, downloads: int):
        self.settings = settings
        self.model = model
        self.jobs = jobs
        self.downloads = downloads
        self.window = jobs * (1 + QUEUED_PER_JOB) + downloads
        self._procs: concurrent.futures.ProcessPoolExecutor | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._fetcher = None

    # --- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers and wait until each has loaded its models; ``StartError`` if they cannot.

        The workers are started with SIGINT blocked and then ignore it: Ctrl-C on a terminal goes
        to the whole process group, and the parent, not each worker, decides what it means.
        """
        from nsfw.fetch.fetcher import Fetcher

        self._procs = concurrent.futures.ProcessPoolExecutor(
            self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(worker_settings(self.settings),),
        )
        # a spawn-context pool starts a process per submit while none is idle: these start them all
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            ready = [self._procs.submit(_ready) for _ in range(self.jobs)]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for future in ready:
            try:
                error = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except BrokenProcessPool:
                raise StartError("a worker process died while loading the models") from None
            except concurrent.futures.TimeoutError:
                raise StartError(f"the worker processes did not load the models in {STARTUP_TIMEOUT_S:.0f} s") from None
            if error:
                raise StartError(error)
        self._fetcher = Fetcher(self.settings)
        self._threads = concurrent.futures.ThreadPoolExecutor(self.downloads, thread_name_prefix="nsfw-download")

    def close(self, wait: bool = True) -> None:
        """Stop the workers (they finish the image in hand) and the download threads."""
        if self._threads is not None:
            self._threads.shutdown(wait=wait, cancel_futures=True)
        if self._procs is not None:
            self._procs.shutdown(wait=wait, cancel_futures=True)
        if self._fetcher is not None:
            self._fetcher.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close(wait=exc_info[0] is None)

    # --- the run --------------------------------------------------------------------------
    def run(
        self,
        sources: Iterable[str],
        emit: Callable[[list], None],
        stop: threading.Event,
        idle: Callable[[], None] = lambda: None,
    ) -> None:
        """Classify ``sources``, calling ``emit(records)`` in this thread as they are done.

        Returns when every source has its record, or, once ``stop`` is set, when every source
        already taken has. ``idle()`` is called when nothing completed for a moment (the
        progress bar redraws). Raises ``WorkerLost`` if a worker process died.

        Files go to the workers in chunks of up to ``CHUNK``, made of what the sources give
        without waiting (a slow standard input yields chunks of one): per image, a task
        costs the parent about as much CPU as the image's own reading and writing.
        """
        results: queue.Queue = queue.Queue()
        ahead: queue.Queue = queue.Queue(maxsize=CHUNK * 2)  # sources read, not yet dispatched
        slots = threading.BoundedSemaphore(self.window)  # one per task: a chunk of files or a URL
        lock = threading.Lock()
        tasks = 0  # handed to the pools; guarded by lock, frozen once stop is set

        def finish(chunk: list[str], future: concurrent.futures.Future) -> None:
            if future.cancelled():  # an abort (a second Ctrl-C): nobody waits for these
                return
            try:
                results.put(("records", future.result()))
            except BrokenProcessPool:
                results.put(("lost", len(chunk)))
            except BaseException as exc:  # noqa: BLE001 - a bug costs records, not the run
                log.error("classifying %s failed: %r", chunk, exc)
                results.put(("records", [records.from_error(source, ServiceError()) for source in chunk]))

        def classify(chunk: list[str], task, *args) -> None:
            try:
                future = self._procs.submit(task, *args)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down by an abort
                results.put(("lost", len(chunk)))
                return
            future.add_done_callback(lambda f: finish(chunk, f))

        def download(url: str) -> None:
            try:
                deadline = time.monotonic() + self.settings.request_timeout
                with self._fetcher.fetch(url, deadline=deadline) as body:
                    data = body.read()
            except ServiceError as exc:
                results.put(("records", [records.from_error(url, exc)]))
                return
            except Exception as exc:  # noqa: BLE001
                log.error("downloading %s failed: %r", url, exc)
                results.put(("records", [records.from_error(url, ServiceError())]))
                return
            classify([url], _classify_data, url, data, self.model)

        def read() -> None:
            """Sources into ``ahead``; may block on a slow input, so it is a thread of its own."""
            try:
                for source in sources:
                    while not stop.is_set():
                        try:
                            ahead.put(source, timeout=0.1)
                            break
                        except queue.Full:
                            pass
                    else:
                        return
            except Exception as exc:  # noqa: BLE001 - e.g. a list file that fails half-way
                results.put(("error", exc))
            finally:
                while True:  # the end, unless nobody will read it any more
                    try:
                        ahead.put(_END, timeout=0.1)
                        break
                    except queue.Full:
                        if stop.is_set():
                            break

        def dispatch() -> None:
            nonlocal tasks
            held = None  # a URL met while filling a chunk of files
            try:
                while True:
                    while not slots.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    source = held
                    held = None
                    while source is None:
                        try:
                            source = ahead.get(timeout=0.1)
                        except queue.Empty:
                            if stop.is_set():
                                return
                    if source is _END:
                        return
                    chunk = [source]
                    if not is_url(source):
                        while len(chunk) < CHUNK:
                            try:
                                more = ahead.get_nowait()
                            except queue.Empty:
                                break
                            if more is _END or is_url(more):
                                held = more
                                break
                            chunk.append(more)
                    with lock:
                        if stop.is_set():
                            return
                        tasks += 1
                    if is_url(source):
                        self._threads.submit(download, source)
                    else:
                        classify(chunk, _classify_files, chunk, self.model)
            finally:
                results.put(("dispatched", None))

        # daemons: the reader may be blocked on standard input when stop is set; it is left behind
        for target in (read, dispatch):
            threading.Thread(target=target, name=f"nsfw-{target.__name__}", daemon=True).start()
        received, dispatched, lost, error = 0, False, 0, None
        while True:
            with lock:
                stopping, total = stop.is_set(), tasks
            if (dispatched or stopping) and received == total:
                break
            try:
                kind, value = results.get(timeout=0.1)
            except queue.Empty:
                idle()
                continue
            if kind == "dispatched":
                dispatched = True
            elif kind == "error":
                error = value
                stop.set()
            else:
                received += 1
                slots.release()
                if kind == "lost":
                    lost += value
                    stop.set()
                else:
                    emit(value)
        if lost:
            raise WorkerLost(f"a worker process died: {lost} sources in flight have no record")
        if error is not None:
            raise error


_END = object()


# --- in the worker processes ----------------------------------------------------------------
_detector = None
_thresholds = None
_start_error: str | None = None


def _init_worker(settings: Settings) -> None:
    global _detector, _thresholds, _start_error
    # Ignored, not handled: the parent finishes the run on Ctrl-C, and the decoder processes
    # this worker starts inherit the disposition.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from nsfw.pipeline import Detector
    from nsfw.verdict import Thresholds

    try:
        _thresholds = Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)
        detector = Detector(settings)
        atexit.register(detector.close)  # its decoder processes
        detector.load()
        _detector = detector
    except Exception as exc:  # noqa: BLE001 - told to the parent, which exits with status 2
        _start_error = str(exc) or repr(exc)


def _ready() -> str | None:
    return _start_error


def _classify_files(paths: list[str], model: str | None) -> list[dict]:
    return [_classify_file(path, model) for path in paths]


def _classify_file(path: str, model: str | None) -> dict:
    try:
        return records.success(path, _detector.classify_bytes(_read(path), model), _thresholds)
    except (ServiceError, OSError) as exc:
        return records.from_error(path, exc)
    except Exception:  # a bug must cost one record, not the chunk
        log.exception("unexpected error classifying %s", path)
        return records.from_error(path, ServiceError())


def _classify_data(source: str, data: bytes, model: str | None) -> list[dict]:
    try:
        return [records.success(source, _detector.classify_bytes(data, model), _thresholds)]
    except ServiceError as exc:
        return [records.from_error(source, exc)]
    except Exception:
        log.exception("unexpected error classifying %s", source)
        return [records.from_error(source, ServiceError())]


def _read(path: str) -> bytes:
    """A file's bytes, held to NSFW_MAX_BYTES like an upload; never blocks on a FIFO or device."""
    limit = _detector.settings.max_bytes
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"not a regular file: {path!r}")
        if info.st_size > limit:
            raise TooLarge(f"the file is {info.st_size} bytes; NSFW_MAX_BYTES allows {limit}")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the file is over {limit} bytes (NSFW_MAX_BYTES)")
    return data
