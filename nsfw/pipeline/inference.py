"""The model's side of a call: inference on the worker's dedicated threads, under the call's deadline."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import numpy as np

from nsfw.errors import DeadlineExceeded
from nsfw.models.runner import Runner

T = TypeVar("T")


def cpu_pool(threads: int) -> ThreadPoolExecutor:
    """The ``NSFW_INTERPRETERS`` threads inference runs on, named ``nsfw-cpu`` in the OS too."""
    return ThreadPoolExecutor(
        threads, thread_name_prefix="nsfw-cpu", initializer=_name_os_thread, initargs=("nsfw-cpu",)
    )


def on_cpu(pool: ThreadPoolExecutor, work: Callable[[], T], deadline: float) -> T:
    """``work()`` run on ``pool``, waited for until ``deadline`` (monotonic); DeadlineExceeded past it."""
    future = pool.submit(work)
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        future.cancel()
        raise DeadlineExceeded() from None


def predict(runner: Runner, tensors: Sequence[np.ndarray], deadline: float) -> tuple[list[np.ndarray], float]:
    """The probabilities of each model input and the milliseconds they took; a call whose deadline has
    passed while it waited for the thread is dropped, never computed."""
    if time.monotonic() >= deadline:
        raise DeadlineExceeded()
    started = time.perf_counter()
    probs = [runner.predict(tensor) for tensor in tensors]
    return probs, elapsed_ms(started)


def elapsed_ms(start: float, end: float | None = None) -> float:
    end = time.perf_counter() if end is None else end
    return round((end - start) * 1000.0, 3)


def _name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS too (``top -H``, ``/proc/<pid>/task/*/comm``, profilers),
    so the inference thread's CPU can be told from the request threads' (bench/cpu_split.py)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME; Linux only, and harmless to miss
    except (OSError, AttributeError):
        pass
