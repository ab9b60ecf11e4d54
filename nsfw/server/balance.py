"""Spread client connections evenly over the gunicorn workers.

The workers share one listening socket and every one of them polls it; whichever wakes
first accepts, and it accepts everything pending. A client that opens a few keep-alive
connections at once (a load balancer's pool, an SDK, wrk) can so land all of them on one
worker, which then serves the whole load on one core while the others idle (measured:
``85 (85/0)`` CPU % per worker, and 98 against 164 req/s in two identical runs).
``SO_REUSEPORT`` with a listener per worker does not fix it: the kernel picks the listener
by a hash of the connection's addresses, so two connections share a worker half the time.

So the workers tell each other how many connections each holds, through a small table in
memory shared by every worker (an anonymous shared mapping made in the gunicorn master,
inherited by each fork): a worker accepts only while it holds no more connections than
the least loaded live worker, and otherwise pauses its accepting for ``PAUSE`` seconds,
so the other worker's accept wins. If no one else takes the connection within
``MAX_DEFER`` (a worker busy for seconds), it accepts anyway: a client never waits on the
balancing longer than that. A worker that already holds two connections more than another
answers its next request with ``Connection: close`` (``should_shed``): the client
reconnects, and the connection lands on the worker with fewer. That also evens out
connections made before a worker (re)started.

Each worker gets a row of the table from the master, before the fork (``assign``, from
gunicorn's ``pre_fork`` hook in ``gunicorn_conf``): the lowest row no live worker uses.
A worker without a row (more than ``ROWS`` workers, or a configuration without the hook)
accepts as gunicorn does.
"""

from __future__ import annotations

import mmap
import os
import struct
import time

#: Most workers that take part (rows of the table).
ROWS = 64
#: How long a worker with more connections than another waits before looking again.
PAUSE = 0.002
#: Longest a pending connection is left to the other workers before this one accepts it anyway.
MAX_DEFER = 0.05
#: Connections a worker may hold over the least loaded one before it closes one after its answer.
SHED_ABOVE = 2
#: A worker whose poller has not looked in for this long (stopped, or stuck) does not count:
#: nobody waits for it to accept, nor hands connections to it.
STALE = 1.0
#: How often an idle poller looks in at the latest (gthread's loop waits up to 1 s).
BEAT = 0.25

_ROW = struct.Struct("=iid")  # pid (0: free), connections held, last beat (time.monotonic, the same in every process)
# Created on import, in the gunicorn master (which imports the worker class before forking),
# so every worker maps the same memory. MAP_SHARED is mmap's default.
_TABLE = mmap.mmap(-1, ROWS * _ROW.size)


def assign(server, worker) -> None:
    """In the master, before the fork: give ``worker`` the lowest row no live worker holds, and clear it."""
    taken = {getattr(w, "nsfw_row", None) for w in server.WORKERS.values()}
    row = next((r for r in range(ROWS) if r not in taken), None)
    worker.nsfw_row = row
    if row is not None:
        _ROW.pack_into(_TABLE, row * _ROW.size, 0, 0, 0.0)


def release(worker) -> None:
    """In the master, once a worker has exited: its row no longer counts."""
    row = getattr(worker, "nsfw_row", None)
    if row is not None:
        _ROW.pack_into(_TABLE, row * _ROW.size, 0, 0, 0.0)


class Balancer:
    """One worker's view of the table: publishes its own connection count, reads the others'."""

    def __init__(self, row: int):
        self.row = row
        self.pid = os.getpid()
        self.offset = row * _ROW.size
        self.held = 0
        self.publish(0)

    def publish(self, connections: int) -> None:
        """This worker's connection count, and that its poller is alive."""
        self.held = connections
        _ROW.pack_into(_TABLE, self.offset, self.pid, connections, time.monotonic())

    def beat(self) -> None:
        self.publish(self.held)

    def leave(self) -> None:
        """Stop counting (a stopping worker accepts nothing more)."""
        _ROW.pack_into(_TABLE, self.offset, 0, 0, 0.0)

    def least_of_others(self) -> int | None:
        """The fewest connections any other live worker holds; None when this worker is alone."""
        least, fresh = None, time.monotonic() - STALE
        for row, (pid, held, beat) in enumerate(_ROW.iter_unpack(_TABLE)):
            if pid and row != self.row and beat >= fresh and (least is None or held < least):
                least = held
        return least

    def my_turn(self, held: int) -> bool:
        least = self.least_of_others()
        return least is None or held <= least

    def should_shed(self, held: int) -> bool:
        least = self.least_of_others()
        return least is not None and held - least >= SHED_ABOVE


class BalancedAccept:
    """Mixin for a gthread worker: accept only on its turn (see the module's docstring).

    Needs ``nsfw_row`` set by ``assign`` in the master; calls ``balanced_accept`` from the
    worker's ``accept`` and keeps ``nr_conns`` (gthread's count of open connections) published.
    """

    alive: bool  # the gthread worker's
    worker_connections: int
    balancer: Balancer | None = None
    _paused_until = 0.0
    _deferring_since = 0.0
    _last_defer = 0.0
    _held = 0

    def start_balancing(self) -> None:
        """After the fork (init_process)."""
        row = getattr(self, "nsfw_row", None)
        if row is not None:
            self.balancer = Balancer(row)
            self.balancer.publish(self._held)

    def stop_balancing(self) -> None:
        if self.balancer is not None:
            self.balancer.leave()
            self.balancer = None

    @property
    def nr_conns(self) -> int:
        return self._held

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._held = value
        if self.balancer is not None:
            self.balancer.publish(value)

    def balanced_accept(self) -> bool:
        """True if this worker should accept now; else its accepting is paused for PAUSE."""
        if self.balancer is None or not self.alive:
            return True
        now = time.monotonic()
        if self.balancer.my_turn(self._held):
            self._deferring_since = 0.0
            return True
        if not self._deferring_since or now - self._last_defer > 4 * PAUSE:  # a new pending connection
            self._deferring_since = now
        self._last_defer = now
        if now - self._deferring_since >= MAX_DEFER:  # nobody else took it
            self._deferring_since = 0.0
            return True
        self._paused_until = now + PAUSE
        self.set_accept_enabled(False)
        return False

    def set_accept_enabled(self, enabled):
        if enabled and self.alive and time.monotonic() < self._paused_until:
            return  # gthread's loop turns accepting back on each round; not before the pause ends
        super().set_accept_enabled(enabled)  # type: ignore[misc]  # the gthread worker's, after this mixin

    def wait_for_and_dispatch_events(self, timeout):
        if self.balancer is not None:
            self.balancer.beat()
            timeout = min(timeout, BEAT)
        if self._paused_until:
            left = self._paused_until - time.monotonic()
            if left <= 0:
                self._paused_until = 0.0
                if self.alive and self.nr_conns < self.worker_connections:
                    self.set_accept_enabled(True)
            else:
                timeout = min(timeout, left)
        super().wait_for_and_dispatch_events(timeout)  # type: ignore[misc]
