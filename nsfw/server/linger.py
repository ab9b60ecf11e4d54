"""Closing a connection gracefully on the poller: half-close, then drain what the client still sends.

Closing a socket that still has unread bytes makes the kernel send a reset, which can cut the
answer just written. gthread drains on the main thread with a blocking two-second read, which a
client that never closes turns into a two-second stall of the whole worker; here the drain is
one more socket on the worker's poller, bounded in time and bytes.
"""

from __future__ import annotations

import selectors
import socket
import time

#: How long a closed connection is drained for, and how much of it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024


class LingeringClose:
    """A mixin for a gthread worker (it needs ``self.poller``)."""

    poller: selectors.BaseSelector  # the gthread worker's

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lingering = {}  # socket -> [time it gets closed, bytes drained]

    def linger(self, sock):
        """Half-close, then drain what the client still sends (on the poller), so the answer is not cut by a reset."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self.on_linger)
        except (OSError, ValueError, KeyError):
            sock.close()
            return
        self.lingering[sock] = [time.monotonic() + LINGER_SECONDS, 0]

    def on_linger(self, sock):
        try:
            data = sock.recv(16384)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        entry = self.lingering[sock]
        entry[1] += len(data)
        if not data or entry[1] >= LINGER_BYTES:
            self.unlinger(sock)

    def unlinger(self, sock):
        self.lingering.pop(sock, None)
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        sock.close()

    def sweep_lingering(self, now: float) -> None:
        """Close the drains whose time is up."""
        for sock in [s for s, (until, _) in self.lingering.items() if until <= now]:
            self.unlinger(sock)

    def close_lingering(self) -> None:
        """The worker is exiting: close every drain at once."""
        for sock in list(self.lingering):
            self.lingering.pop(sock)
            sock.close()
