"""A client connection of the worker, and the body reader that keeps a slow upload to its timeout.

``Conn`` is gthread's connection plus what the poller reads ahead (the inbox, how much of it
is scanned, the head's length, the bytes to wait for); ``scan_head`` finds where the head
ends, or that gunicorn's parser can refuse it already. ``TimedBody`` is the body reader the
pool thread uses, so a stalled upload is a 408, never a thread held for good. The limits on
what the poller reads ahead are here too, beside the connection that holds it.
"""

from __future__ import annotations

import time

from gunicorn.workers import gthread
from werkzeug.exceptions import RequestTimeout

#: Most bytes of one request head waited for on the poller; a head that is
#: longer gets a 431 (gunicorn's own default allows up to ~800 KB of header).
HEAD_CAP = 64 * 1024
#: Most bytes of one request body read ahead on the poller. A longer body is
#: read by the pool thread once this much has arrived.
READ_AHEAD = 1024 * 1024
#: Most bytes buffered on the poller across all connections of a worker; over
#: it, connections go to the pool as they are (still bounded by the socket
#: timeout), so many clients cannot make the worker hold gigabytes.
BUFFER_BUDGET = 64 * 1024 * 1024
#: How long in-progress heads get once the worker is stopping.
STOP_HEAD_LINGER = 2.0
#: Slowest average rate a body may arrive at, after NSFW_BODY_TIMEOUT seconds of grace
#: (as Apache's mod_reqtimeout MinRate): a client dripping a byte every few seconds
#: never goes silent long enough for the per-read timeout, but falls behind this.
MIN_BODY_RATE = 16 * 1024


class TimedBody:
    """A request body reader whose socket timeout answers 408 while the application reads it.

    werkzeug turns any OSError from ``wsgi.input`` into a 400 "client
    disconnected"; a stalled upload deserves the 408 it is.
    """

    def __init__(self, reader, req, sock, timeout: float):
        self.reader = reader
        self.req = req
        self.sock = sock
        self.timeout = timeout
        self.start = time.monotonic()
        self.received = 0

    def read(self, size=None):
        # each read may wait at most the time left at MIN_BODY_RATE, and never longer than the timeout
        left = self.start + self.timeout + self.received / MIN_BODY_RATE - time.monotonic()
        if left <= 0:
            self.req.force_close()
            raise RequestTimeout(f"the request body arrived slower than {MIN_BODY_RATE // 1024} KiB/s")
        self.sock.settimeout(min(self.timeout, left))
        try:
            data = self.reader.read(size)
        except TimeoutError:
            self.req.force_close()
            raise RequestTimeout(f"the request body stalled for {self.timeout:g} s") from None
        self.received += len(data)
        return data


class Conn(gthread.TConn):
    """A client connection: gthread's, plus the bytes read ahead on the poller."""

    def __init__(self, cfg, sock, client, server, worker):
        super().__init__(cfg, sock, client, server)
        self.worker = worker
        self.inbox = bytearray()
        self.deadline = 0.0
        self.scanned = 0  # inbox[:scanned] holds no end of head and no bare LF
        self.head_len = None  # set once the head is complete
        self.want = 0  # bytes (head + body) to have before handing over
        self.body_start = 0.0  # when the head was complete

    def init(self):
        super().init()
        # Blocking from here on (pool thread): every read, and every write, is bounded.
        self.sock.settimeout(self.worker.body_timeout)

    def close(self, graceful=False):
        if graceful:
            self.worker.linger(self.sock)
        else:
            super().close()

    def scan_head(self, line_limit: int) -> int | str:
        """The head's length once complete, "parser" if gunicorn can already refuse it, else "more"."""
        inbox = self.inbox
        start = max(self.scanned - 3, 0)
        end = inbox.find(b"\r\n\r\n", start)
        limit = len(inbox) if end < 0 else end + 4
        lf = inbox.find(b"\n", self.scanned, limit)
        while lf >= 0:
            if lf == 0 or inbox[lf - 1] != 0x0D:
                return "parser"  # a bare LF: refused as soon as the parser sees it
            lf = inbox.find(b"\n", lf + 1, limit)
        self.scanned = len(inbox)
        if end >= 0:
            return end + 4
        if line_limit:
            line = inbox[2:] if inbox[:2] == b"\r\n" else inbox
            eol = line.find(b"\r\n")
            if eol > line_limit or (eol < 0 and len(line) - 2 > line_limit):
                return "parser"  # LimitRequestLine, raised before anything else is read
        return "more"
