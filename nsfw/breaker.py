"""A dependency the service works without (the shared cache's Redis, the review database).

When it fails, the call goes on without it, one warning is logged, and it is left alone for a
growing pause (1 s doubling to 30 s) before the next attempt: an outage costs at most one short
timeout per pause, not one per request. The first call that reaches it again logs that it is back.

Slowness counts as failure: with ``slow_s`` set, ``SLOW_CALLS`` answers in a row that each took
``slow_s`` or longer open it as a failure would. A dependency that answers every call in 0.4 s is
down for a service whose requests must not wait on it, though no call ever fails.
"""

from __future__ import annotations

import logging
import threading
import time

from nsfw.observe import metrics

log = logging.getLogger(__name__)


class SlowAnswers(Exception):
    """What a breaker opened by slowness, not by a failure, reports."""


class Breaker:
    """``what`` names the dependency in the two log lines; ``meanwhile`` says what the service does without it.

    ``name`` (one of ``metrics.DEPENDENCIES``) is its label in ``nsfw_dependency_up``: 1 from here on,
    0 from a failure until a call succeeds again (what the operators' outage alerts watch).
    ``quiet``: no log lines (the caller logs the changes its own way).
    """

    MAX_PAUSE = 30.0
    SLOW_CALLS = 3

    def __init__(
        self,
        name: str,
        what: str,
        meanwhile: str,
        back: str = "",
        slow_s: float | None = None,
        quiet: bool = False,
    ):
        self.name, self.what, self.meanwhile, self.back = name, what, meanwhile, back
        self.slow_s = slow_s
        self.quiet = quiet
        metrics.dependency_up(name, True)
        self._lock = threading.Lock()
        self._pause = 0.0
        self._until = 0.0  # time.monotonic(); 0: up
        self._slow = 0  # slow answers in a row

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
        if first and not self.quiet:
            log.warning("%s failed (%s: %s); %s", self.what, type(exc).__name__, exc, self.meanwhile)

    def succeeded(self, elapsed: float = 0.0) -> None:
        """An answer, after ``elapsed`` seconds: one slow answer too many is a failure."""
        if self.slow_s is not None and elapsed >= self.slow_s:
            with self._lock:
                self._slow += 1
                slow, self._slow = self._slow, self._slow % self.SLOW_CALLS
            if slow >= self.SLOW_CALLS:
                self.failed(SlowAnswers(f"{slow} answers in a row took {self.slow_s * 1000:.0f} ms or more"))
            return
        self._slow = 0
        if self._pause:
            with self._lock:
                was_down, self._pause, self._until = self._pause > 0, 0.0, 0.0
            if was_down:
                metrics.dependency_up(self.name, True)
            if was_down and not self.quiet:
                log.warning("%s answers again%s", self.what, self.back)
