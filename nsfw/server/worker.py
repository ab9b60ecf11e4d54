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

from gunicorn import http
from gunicorn.errors import AppImportError
from gunicorn.workers import gthread

from nsfw.observe import request_ids
from nsfw.server.balance import BalancedAccept
from nsfw.server.conn import BUFFER_BUDGET, HEAD_CAP, MIN_BODY_RATE, READ_AHEAD, STOP_HEAD_LINGER, Conn, TimedBody
from nsfw.server.linger import LingeringClose
from nsfw.server.responses import ErrorsAsJSON, body_to_wait_for, count_rejection, error_bytes, health_answer
from nsfw.settings import ConfigError, Settings


class Worker(BalancedAccept, LingeringClose, ErrorsAsJSON, gthread.ThreadWorker):
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
            verdict = conn.scan_head(self.line_limit)
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
        head = bytes(conn.inbox[: conn.head_len])
        answer = health_answer(head, self.cfg.limit_request_fields, stopping=self.stop_at is not None)
        if answer is None:
            return False
        response, close = answer
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
        count_rejection(status)
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

    def load_wsgi(self):
        """A configuration the app refuses (a bad reviewers or keys file...) ends this worker with one
        line and gunicorn's "App failed to load" exit (4), which stops the master: no traceback per
        worker, no boot loop. The master refuses what it can check itself before any worker starts
        (nsfw.server.preflight)."""
        try:
            super().load_wsgi()
        except ConfigError as exc:
            raise AppImportError(f"not starting: {exc}") from None

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
            body.reader = TimedBody(reader, req, conn.sock, self.body_timeout)
        try:
            return super().handle_request(req, conn)
        finally:
            if reader is not None:
                body.reader = reader  # gunicorn's own drain expects the socket's TimeoutError
                conn.sock.settimeout(self.body_timeout)
