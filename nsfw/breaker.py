"""A dependency the service works without (the shared cache's Redis, the review database).

When it fails, the call goes on without it, one warning is logged, and it is left alone for a
growing pause (1 s doubling to 30 s) before the next attempt: an outage costs at most one short
timeout per pause, not one per request. The first call that reaches it again logs that it is back.
"""

from __future__ import annotations

import logging
import threading
import time

from nsfw.observe import metrics

log = logging.getLogger(__name__)


class Breaker:
    """``what`` names the dependency in the two log lines; ``meanwhile`` says what the service does without it.

    ``name`` (one of ``metrics.DEPENDENCIES``) is its label in ``nsfw_dependency_up``: 1 from here on,
    0 from a failure until a call succeeds again (what the operators' outage alerts watch).
    """

    MAX_PAUSE = 30.0

    def __init__(self, name: str, what: str, meanwhile: str, back: str = ""):
        self.name, self.what, self.meanwhile, self.back = name, what, meanwhile, back
        metrics.dependency_up(name, True)
        self._lock = threading.Lock()
        self._pause = 0.0
        self._until = 0.0  # time.monotonic(); 0: up

    @property
    def open(self) -> bool:
        """True while the dependency is being left alone."""
        return time.monotonic() < self._until

    def failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._pause == 0
            self._pause = min(self.MAX_PAUSE, self._pause * 2 or 1.0)
            self._until = time.monotonic() + self._pause
        if first:
            metrics.dependency_up(self.name, False)
            log.warning("%s failed (%s: %s); %s", self.what, type(exc).__name__, exc, self.meanwhile)

    def succeeded(self) -> None:
        if self._pause:
            with self._lock:
                was_down, self._pause, self._until = self._pause > 0, 0.0, 0.0
            if was_down:
                metrics.dependency_up(self.name, True)
                log.warning("%s answers again%s", self.what, self.back)
