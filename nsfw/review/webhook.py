"""The decision webhook: a signed POST per decision, from an outbox in the review database.

A decision and its webhook delivery are written in one transaction (``ReviewStore._set``), so a
delivery is never lost to a crash or a restart between the two, and any process sharing the
database may send it: each claims a due row for a lease before sending, so two processes do not
both send it, and only an item's oldest delivery is claimed, so an item's decisions arrive in the
order of their ``item.version``. A failed attempt (no answer, or any status but 2xx) is retried
NSFW_REVIEW_WEBHOOK_BACKOFF seconds after it failed, doubled for each next attempt (at most an
hour), up to NSFW_REVIEW_WEBHOOK_ATTEMPTS attempts; then the delivery is dropped with an error in
the log. Guarantees: at least once (a lease that runs out mid-send may send it twice: the
``delivery`` id is the same), and per item in version order; nothing across items.

The receiver checks ``X-NSFW-Signature: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>``
with NSFW_REVIEW_WEBHOOK_SECRET as the key, where ``X-NSFW-Timestamp`` is the Unix time of the
attempt: an old body replayed is stale however well signed (docs/review-trust.md has a receiver).
The POST goes through the fetcher's address policy (``Fetcher.post``): a private address is refused
unless NSFW_WEBHOOK_ALLOW_NETS exempts it (the webhook's own exemption: image downloads never use it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time

from nsfw.errors import ServiceError
from nsfw.observe import metrics
from nsfw.review.items import utcnow
from nsfw.review.store import ReviewStore

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-NSFW-Signature"
TIMESTAMP_HEADER = "X-NSFW-Timestamp"
DELIVERY_HEADER = "X-NSFW-Delivery"
MAX_BACKOFF_S = 3600.0
ATTEMPT_S = 10.0  # the most one attempt may take, connecting included
CLAIM = 10  # deliveries claimed at once
MARGIN_S = 30.0  # for the outbox's own writes (each bounded by the statement timeout)
# a claim outlasts every attempt it allows: deliver_due stops and gives the rest back before it would not
LEASE = dt.timedelta(seconds=CLAIM * ATTEMPT_S + MARGIN_S)
POLL_S = 5.0  # how often due retries (and deliveries left by another process) are looked for


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """The header's value: ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Webhook:
    """Delivers the outbox; ``deliver_due(now)`` is one round (tests call it with their own clock)."""

    def __init__(self, store: ReviewStore, url: str, secret: str, fetcher, attempts: int = 10, backoff: float = 2.0):
        self.store = store
        self.url = url
        self.secret = secret
        self.fetcher = fetcher
        self.attempts = attempts
        self.backoff = backoff
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th failed attempt: backoff, 2 x backoff, 4 x ..., at most an hour."""
        return dt.timedelta(seconds=min(MAX_BACKOFF_S, self.backoff * 2 ** (attempts - 1)))

    def deliver_due(self, now: dt.datetime | None = None) -> int:
        """Send every delivery due at ``now``; how many were delivered.

        Time goes on from ``now`` as the round does: a retry is due its backoff after the attempt that
        failed (not after the round began), and no attempt starts that the lease would not cover."""
        now = now or utcnow()
        started = time.monotonic()

        def at() -> dt.datetime:
            return now + dt.timedelta(seconds=time.monotonic() - started)

        delivered = 0
        claimed = self.store.outbox.claim(now, LEASE, CLAIM)
        for n, (delivery_id, body, attempts) in enumerate(claimed):
            if time.monotonic() - started + ATTEMPT_S + MARGIN_S > LEASE.total_seconds():
                self.store.outbox.release(row[0] for row in claimed[n:])
                break
            if self._send(body, at()):
                self.store.outbox.done(delivery_id)
                metrics.review("webhook_delivered")
                delivered += 1
                continue
            attempts += 1
            if attempts >= self.attempts:
                self.store.outbox.done(delivery_id)
                metrics.review("webhook_gave_up")
                log.error("review webhook: a delivery failed %d times and was dropped", attempts)
            else:
                metrics.review("webhook_failed")
                self.store.outbox.retry(delivery_id, attempts, at() + self.delay(attempts))
        return delivered

    def _send(self, body: bytes, when: dt.datetime) -> bool:
        timestamp = int(when.timestamp())
        headers = {
            "Content-Type": "application/json",
            "Accept": "*/*",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(self.secret, body, timestamp),
        }
        delivery = _delivery_id(body)
        if delivery:
            headers[DELIVERY_HEADER] = delivery
        try:
            status = self.fetcher.post(self.url, body, headers, timeout=ATTEMPT_S)
        except ServiceError as exc:
            log.warning("review webhook: %s (%s); it will be retried", exc.message, exc.code)
            return False
        if 200 <= status < 300:
            return True
        log.warning("review webhook: the receiver answered %d; it will be retried", status)
        return False

    # --- the background thread ----------------------------------------------------
    def wake(self) -> None:
        """Deliver now (a decision was just made), starting the thread on first use."""
        self.start()
        self._wake.set()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._loop, name="nsfw-review-webhook", daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # the database is down: try again at the next round
                log.warning("review webhook: the outbox could not be read (%s: %s)", type(exc).__name__, exc)
            wait = POLL_S
            try:
                due = self.store.outbox.next_due()
            except Exception:
                due = None
            if due is not None:
                wait = max(0.01, min(POLL_S, (due - utcnow()).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()


def _delivery_id(body: bytes) -> str | None:
    """The body's ``delivery`` (None in a body written before there was one)."""
    try:
        value = json.loads(body).get("delivery")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
