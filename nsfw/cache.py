"""Results remembered by image content, and identical work done once.

The key is the sha256 of the image bytes plus the model name, so the same
picture reached through different URLs is classified once. Concurrent
requests for the same key wait for the first one instead of repeating its
decode and inference. Failures are not remembered: the next request tries again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


class ResultCache:
    """A thread-safe LRU with single-flight computation; ``size`` 0 turns both off."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._pending: dict = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> tuple[T, bool]:
        """``(value, cached)``: cached is True when the value was not computed for this call."""
        if self.size <= 0:
            return compute(), False
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key], True
            waiting = self._pending.get(key)
            if waiting is None:
                waiting = self._pending[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return waiting.result(), True
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            waiting.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        waiting.set_result(value)
        return value, False
