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

import concurrent.futures
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from nsfw.batch import worker
from nsfw.batch.flow import CHUNK, Flow, WorkerLost
from nsfw.settings import Settings

if TYPE_CHECKING:
    from nsfw.fetch.fetcher import Fetcher

__all__ = ["CHUNK", "LocalClassifier", "StartError", "WorkerLost", "default_jobs", "worker_settings"]

# Tasks queued per worker beyond the one it works on, of CHUNK files each: enough that a worker
# never waits for the parent, few enough that Ctrl-C finishes quickly (at most
# (1 + QUEUED_PER_JOB) * CHUNK images per worker, about half a second of work).
QUEUED_PER_JOB = 2
STARTUP_TIMEOUT_S = 120.0


class StartError(RuntimeError):
    """The worker processes could not load the models (missing or altered files...)."""


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
        self._fetcher: Fetcher | None = None

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
            initializer=worker.init,
            initargs=(worker_settings(self.settings),),
        )
        # a spawn-context pool starts a process per submit while none is idle: these start them all
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            ready = [self._procs.submit(worker.ready) for _ in range(self.jobs)]
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
        if self._procs is None or self._threads is None or self._fetcher is None:
            raise RuntimeError("LocalClassifier.run before start()")
        flow = Flow(self.settings, self.model, (self._procs, self._threads, self._fetcher), self.window, stop)
        flow.start(sources)
        flow.drain(emit, idle)
