"""gunicorn's gthread worker, hardened against slow clients, with JSON errors.

gunicorn exposes itself directly on every documented deployment (Procfile,
Dockerfile, app.yaml), and its gthread worker reads a request's head and body
on a pool thread with blocking sockets: a client that sends half a header, or
a few bytes of a body, and then stalls holds that thread for good. With four
threads, four such clients stop the worker and /health with it.

This worker keeps everything of gthread (keep-alive, graceful shutdown,
heartbeat, max_requests) and changes where bytes are waited for:

* The main (poller) thread reads each request without blocking until its head
  is complete and, for a body with a Content-Length, until that body (up to
  ``READ_AHEAD`` bytes) is in too. Only then does a pool thread get the
  connection, with the bytes pushed back into gunicorn's parser, so parsing
  and reading a small body never wait on the client. Keep-alive and pipelined
  requests take the same path.
* A head must be complete within ``NSFW_HEADER_TIMEOUT`` seconds; a body may go
  silent for at most ``NSFW_BODY_TIMEOUT`` seconds, nor arrive slower than
  ``MIN_BODY_RATE`` on average after that much grace, whether it is waited for
  here or read later by the pool thread (a socket timeout). Either way the
  client gets a JSON 408 and the connection is closed.
* ``GET /health`` is answered right here, without a thread, so liveness never
  waits behind work (``answer_health``).
* gunicorn's own errors (bad request line, header too large, URI too long...)
  are answered in the service's JSON error shape instead of HTML.
* Closing a connection "gracefully" (half-close, then drain what the client
  still sends) is done on the poller too: gthread does it on the main thread
  with a blocking two-second drain, which a client that never closes turns
  into a two-second stall of the whole worker (``linger.py``).

TLS, PROXY protocol, uWSGI and h2c connections are not read ahead (their
bytes are not plain HTTP/1 heads); they are served exactly as gthread does.
"""

from __future__ import annotations

import errno
import selectors
import time
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.workers import gthread
from werkzeug.exceptions import RequestTimeout

from nsfw.observe import request_ids
from nsfw.server.balance import BalancedAccept
from nsfw.server.linger import LingeringClose
from nsfw.server.responses import FIELD, Capture, body_to_wait_for, error_bytes, error_code, health_bytes
from nsfw.settings import Settings

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
#: Slowest average rate a body may arrive at, after NSFW_BODY_TIMEOUT seconds of grace
#: (as Apache's mod_reqtimeout MinRate): a client dripping a byte every few seconds
#: never goes silent long enough for the per-read timeout, but falls behind this.
MIN_BODY_RATE = 16 * 1024
#: How long in-progress heads get once the worker is stopping.
STOP_HEAD_LINGER = 2.0


class _TimedBody:
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


class Worker(BalancedAccept, LingeringClose, gthread.ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = Settings.from_env()
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        # TLS, PROXY protocol, uWSGI and h2c start with bytes that are not an HTTP/1 head.
        cfg = self.cfg
        self.read_ahead = (
            not cfg.is_ssl and cfg.protocol == "http" and cfg.proxy_protocol == "off" and cfg.http2_cleartext == "off"
        )
        limit = cfg.limit_request_line
        self.line_limit = 8190 if limit < 0 or limit >= 8190 else limit  # as gunicorn's parser; 0 is no limit
        self.reading = set()  # connections read on the poller
        self.buffered = 0
        self.stop_at = None
        self.next_sweep = 0.0

    # -- connections in ------------------------------------------------------

    def accept(self, listener):
        if not self.balanced_accept():  # another worker holds fewer connections: its accept wins
            return
        try:
            client, addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(Conn(self.cfg, client, addr, listener.getsockname(), self))

    def enqueue_req(self, conn):
        """Every request, new or kept alive, comes through here (on the main thread)."""
        if not self.read_ahead:
            return super().enqueue_req(conn)
        if conn.parser is not None:  # read ahead into the next request while draining a body
            conn.inbox[:0] = conn.parser.unreader.take_buffered()
            self.buffered += len(conn.inbox)
        conn.scanned = 0
        conn.head_len = None
        conn.want = 0
        conn.deadline = time.monotonic() + self.header_timeout
        if self.stop_at is not None:
            conn.deadline = min(conn.deadline, self.stop_at)
        conn.sock.setblocking(False)
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_bytes, conn))
        self.guarded(self.advance, conn)

    def on_bytes(self, conn, sock):
        self.guarded(self.read_some, conn, sock)

    def guarded(self, step, conn, *args):
        try:
            step(conn, *args)
        except Exception:  # a bug here must cost one connection, never the worker
            self.log.exception("Error reading a request ahead")
            if conn in self.reading:
                self.forget(conn)

    def read_some(self, conn, sock):
        room = HEAD_CAP if conn.head_len is None else conn.want
        room = min(room - len(conn.inbox) + 1, BUFFER_BUDGET - self.buffered, 256 * 1024)
        if room <= 0:
            self.hand_over(conn)
            return
        try:
            data = sock.recv(room)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away mid-request; nothing to answer
            self.forget(conn)
            return
        conn.inbox += data
        self.buffered += len(data)
        if conn.head_len is not None:
            conn.deadline = self.body_deadline(conn.body_start, len(conn.inbox) - conn.head_len)
        self.advance(conn)

    def body_deadline(self, start: float, received: int) -> float:
        """Silent for at most NSFW_BODY_TIMEOUT, and never slower than MIN_BODY_RATE on average."""
        now = time.monotonic()
        return min(now + self.body_timeout, start + self.body_timeout + received / MIN_BODY_RATE)

    def advance(self, conn):
        """Hand the connection over once the pool thread will not wait on the client; reject what never will."""
        inbox = conn.inbox
        if conn.head_len is None:
            verdict = self.scan_head(conn)
            if verdict == "more":
                if len(inbox) >= HEAD_CAP:
                    self.reject(conn, 414 if b"\r\n" not in inbox else 431)
                return
            if verdict == "parser":  # gunicorn rejects it without reading further
                self.hand_over(conn)
                return
            conn.head_len = verdict
            conn.want = verdict + body_to_wait_for(bytes(inbox[:verdict]), READ_AHEAD)
            if conn.want == verdict and self.answer_health(conn):
                return
            conn.body_start = time.monotonic()
            conn.deadline = conn.body_start + self.body_timeout
        if len(inbox) >= conn.want:
            self.hand_over(conn)

    def answer_health(self, conn) -> bool:
        """Answer ``GET /health`` here on the poller, never queued behind a pool thread.

        A platform restarts an instance whose health check fails, and restarting a loaded
        instance makes the overload worse: so liveness must not wait for a thread, however
        busy the pool is. The answer is the app's own (``{"status":"ok"}``); whether the
        app can serve is what ``/ready`` says. False (and nothing sent) for any other request.
        """
        line, _, rest = bytes(conn.inbox[: conn.head_len]).partition(b"\r\n")
        method, _, line = line.partition(b" ")
        target, _, version = line.partition(b" ")
        if method not in (b"GET", b"HEAD") or target != b"/health" or version not in (b"HTTP/1.1", b"HTTP/1.0"):
            return False
        lines = rest.split(b"\r\n")[:-2]  # the head ends with an empty line
        if len(lines) > self.cfg.limit_request_fields or not all(FIELD.fullmatch(line) for line in lines):
            return False  # gunicorn's parser refuses it, with its own status
        parsed = [(name.lower(), value.strip()) for name, _, value in (ln.partition(b":") for ln in lines)]
        fields = {name: value.lower() for name, value in parsed}
        if b"transfer-encoding" in fields or b"content-length" in fields:
            return False  # a body the parser must see
        close = version == b"HTTP/1.0" or b"close" in fields.get(b"connection", b"") or self.stop_at is not None
        given = next((value for name, value in parsed if name == b"x-request-id"), None)
        response = health_bytes(close, with_body=method == b"GET", request_id=request_ids.accept_bytes(given))
        try:
            sent = conn.sock.send(response)
        except OSError:
            sent = -1
        if sent != len(response):  # a full send buffer or a gone client: not worth waiting for
            self.forget(conn)
            return True
        if close:
            self.drop(conn)
            self.nr_conns -= 1
            self.linger(conn.sock)
            return True
        del conn.inbox[: conn.head_len]  # a pipelined request may follow
        self.buffered -= conn.head_len
        conn.scanned, conn.head_len, conn.want = 0, None, 0
        conn.deadline = time.monotonic() + self.header_timeout
        self.advance(conn)
        return True

    def scan_head(self, conn):
        """The head's length once complete, "parser" if gunicorn can already refuse it, else "more"."""
        inbox = conn.inbox
        start = max(conn.scanned - 3, 0)
        end = inbox.find(b"\r\n\r\n", start)
        limit = len(inbox) if end < 0 else end + 4
        lf = inbox.find(b"\n", conn.scanned, limit)
        while lf >= 0:
            if lf == 0 or inbox[lf - 1] != 0x0D:
                return "parser"  # a bare LF: refused as soon as the parser sees it
            lf = inbox.find(b"\n", lf + 1, limit)
        conn.scanned = len(inbox)
        if end >= 0:
            return end + 4
        if self.line_limit:
            line = inbox[2:] if inbox[:2] == b"\r\n" else inbox
            eol = line.find(b"\r\n")
            if eol > self.line_limit or (eol < 0 and len(line) - 2 > self.line_limit):
                return "parser"  # LimitRequestLine, raised before anything else is read
        return "more"

    def hand_over(self, conn):
        self.drop(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(conn.inbox))
        conn.inbox = bytearray()
        conn.data_ready = True
        super().enqueue_req(conn)

    def drop(self, conn):
        """Stop reading this connection on the poller."""
        self.reading.discard(conn)
        self.buffered -= len(conn.inbox)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def forget(self, conn):
        """Close a connection read on the poller, with nothing to answer."""
        self.drop(conn)
        self.nr_conns -= 1
        conn.close()

    def reject(self, conn, status, message=None):
        """Answer an error from the poller (never blocking) and close the connection."""
        self.drop(conn)
        conn.inbox = bytearray()
        self.nr_conns -= 1
        request_id = request_ids.new()
        self.log.info(
            "Rejected request from ip=%s: %s",
            conn.client[0] if conn.client else "",
            status,
            extra={"request_id": request_id},
        )
        _count_rejection(status)
        try:
            conn.sock.send(error_bytes(status, message=message, request_id=request_id))
        except OSError:
            pass
        self.linger(conn.sock)

    # -- timeouts --------------------------------------------------------------

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_sweep:  # called after every poller wake-up; a sweep is O(connections)
            return
        self.next_sweep = now + 0.1
        if not self.alive and self.stop_at is None:
            self.stop_at = now + STOP_HEAD_LINGER
            self.stop_balancing()
            for conn in self.reading:
                conn.deadline = min(conn.deadline, self.stop_at)
        for conn in [c for c in self.reading if c.deadline <= now]:
            if conn.inbox or conn.head_len is not None:
                phase = "head" if conn.head_len is None else "body"
                timeout = self.header_timeout if conn.head_len is None else self.body_timeout
                self.reject(conn, 408, f"the request {phase} did not arrive within {timeout:g} s")
            else:  # an idle connection (new or kept alive) that never sent a byte
                self.forget(conn)
        self.sweep_lingering(now)

    def run(self):
        self.start_balancing()  # only now: a worker still loading its model must not draw connections
        try:
            super().run()
        finally:
            self.stop_balancing()
            for conn in list(self.reading):
                self.reading.discard(conn)
                conn.sock.close()
            self.close_lingering()

    # -- requests on the pool ---------------------------------------------------

    def handle_request(self, req, conn):
        if self.balancer is not None and self.balancer.should_shed(self.nr_conns):
            req.force_close()  # the client reconnects, and the worker with fewer connections accepts
        body: Any = getattr(req, "body", None)
        reader = getattr(body, "reader", None)
        if reader is not None:
            body.reader = _TimedBody(reader, req, conn.sock, self.body_timeout)
        try:
            return super().handle_request(req, conn)
        finally:
            if reader is not None:
                body.reader = reader  # gunicorn's own drain expects the socket's TimeoutError
                conn.sock.settimeout(self.body_timeout)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's error handling (status, log lines, access log), answered as JSON."""
        capture = Capture()
        request_id = request_ids.new()
        token = request_ids.current.set(request_id)  # gunicorn's log lines about it carry the id
        try:
            super().handle_error(req, capture, addr, exc)
        finally:
            request_ids.current.reset(token)
        status = capture.status()
        _count_rejection(status)
        try:
            util.write_nonblock(client, error_bytes(status, request_id=request_id))
        except Exception:
            self.log.debug("Failed to send error message.")


def _count_rejection(status: int) -> None:
    """A refusal the worker answers itself (slow or oversized heads) counts in nsfw_rejected_total too.

    Imported here, in the worker (after the fork and the app), never in the gunicorn master.
    """
    from nsfw.observe import metrics

    metrics.rejected(error_code(status), status)
