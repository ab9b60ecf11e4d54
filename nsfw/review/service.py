"""The review queue in a running service: queueing off the request path, remembered decisions, retention.

``Review.classified`` observes the Detector (``nsfw.pipeline.Observer``): it runs after the answer
is computed and hands the sighting to a bounded in-memory buffer that a background thread writes to
the database (``writer.SightingWriter``): queueing never fails a classification.

``Review.decisions`` is the lookup ``/v1/classify`` makes for its images' human verdicts: one
indexed query for the whole batch. A failing database is left alone for a growing pause (1 s
doubling to 30 s) with one warning, like the shared result cache, so an outage costs at most
one failed lookup per pause, and the answers carry the model's verdicts meanwhile.

Retention (``ReviewStore.prune``) runs on the writer thread at most once an hour per process, and
on demand with ``nsfw db prune``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator

from nsfw.breaker import Breaker
from nsfw.imaging.pdq import Pdq
from nsfw.observe import metrics
from nsfw.pipeline import Observer
from nsfw.review import schema
from nsfw.review.items import Decision, Item, Sighting
from nsfw.review.known import KnownContent
from nsfw.review.reviewers import Reviewers
from nsfw.review.store import ReviewStore
from nsfw.review.webhook import Webhook
from nsfw.review.writer import SightingWriter
from nsfw.verdict import Thresholds, Verdict, verdict

log = logging.getLogger(__name__)


class Review(Observer):
    """The queue, its reviewers, its webhook: one per process (``nsfw.web.current.review``).

    It observes the Detector (``classified`` queues sightings) and is the web layer's one way to the
    queue: the views read and decide through it, never through its store.
    """

    wants_results = True  # every answer, cached ones too, is a sighting

    def __init__(self, settings, store: ReviewStore, reviewers: Reviewers, fetcher=None):
        self.mode = settings.review
        self.store = store
        self.reviewers = reviewers
        self.thresholds = Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)
        self.lookup_budget = settings.review_lookup_timeout
        self.breaker = Breaker(
            "review_database",
            f"review queue: the database at {store.engine.url.render_as_string(hide_password=True)}",
            "classifying without it until it answers",
        )
        self.webhook = None
        if settings.review_webhook_url:
            self.webhook = Webhook(
                store,
                settings.review_webhook_url,
                settings.review_webhook_secret,
                fetcher,
                attempts=settings.review_webhook_attempts,
                backoff=settings.review_webhook_backoff,
            )
        # the sightings' buffer and the thread that writes it; the webhook's sender starts with it
        # (deliveries left by an earlier run, or another process)
        self.writer = SightingWriter(store, self.breaker, self.webhook.start if self.webhook is not None else None)
        # decisions that follow near-duplicates, and the hash lists: the Detector's matcher (match_with)
        self.known = KnownContent.from_settings(settings, store)
        self.lists = self.known.lists

    @classmethod
    def from_settings(cls, settings, fetcher=None) -> Review:
        """Migrate first when NSFW_DB_AUTO_MIGRATE is on; a database that cannot be reached does not stop
        the service (it classifies as without review, and the queue works once the database answers)."""
        log.info("review queue: the database is %s", schema.shown(settings.database_url))  # never a surprise
        if settings.db_auto_migrate:
            try:
                schema.upgrade(settings.database_url)
            except Exception as exc:
                metrics.review("store_error")
                log.error("review queue: the database could not be migrated (%s: %s)", type(exc).__name__, exc)
        store = ReviewStore.from_settings(settings.replace(db_auto_migrate=False))
        return cls(settings, store, Reviewers.from_settings(settings), fetcher)

    # --- the classification side ----------------------------------------------------
    def classified(self, result, url: str | None, model_input) -> None:
        """A sighting for the queue, if NSFW_REVIEW asks for it; never blocks."""
        model_verdict = verdict(result.scores, self.thresholds)
        if self.mode == "unknown" and model_verdict != Verdict.UNKNOWN:
            return
        match, pdq = result.match, result.pdq
        if match is not None and match.source == "list":
            return  # decided by a list: nothing for a person to see
        follows = match if match is not None and match.source == "review" else None
        sighting = Sighting(
            result.sha256,
            url,
            result.model,
            dict(result.scores),
            model_verdict,
            pdq=pdq.hash if pdq else None,
            pdq_quality=pdq.quality if pdq else None,
            follows=follows.item if follows else None,
            follows_decision=follows.verdict if follows else None,
            match_distance=follows.distance if follows else None,
        )
        self.writer.offer(sighting, model_input, result.width, result.height)

    def decisions(self, sha256s) -> dict[str, str]:
        """sha256 -> a reviewer's decision for these images; {} (the model's verdicts stand) on failure.

        Slowness counts as failure: a lookup cut at its budget, or one that answered only past it,
        opens the breaker as an error does, so a stalled database (a held table lock) costs each
        request at most the budget, and then nothing while the breaker is open."""
        if self.breaker.open:
            return {}
        started = time.monotonic()
        try:
            found = self.store.decisions(sha256s)
        except Exception as exc:
            metrics.review("lookup_error")
            self._failed(exc)
            return {}
        took = time.monotonic() - started
        if took > self.lookup_budget:
            metrics.review("lookup_slow")
            self._failed(TimeoutError(f"a decision lookup took {took * 1000:.0f} ms"))
            return found
        self.breaker.succeeded()
        if found:
            metrics.review("remembered", len(found))
        return found

    def _failed(self, exc: Exception) -> None:
        """One failure per pause: lookups in flight when the breaker opened do not each double its pause
        (24 threads stalled together once made the first pause 30 s instead of 1 s)."""
        if not self.breaker.open:
            self.breaker.failed(exc)

    def pending(self) -> int | None:
        """Items waiting for a decision (``nsfw_review_pending``); None while the database is left alone
        or fails. Each scrape of /metrics asks, so it also tells the breaker when the database is back."""
        if self.breaker.open:
            return None
        try:
            count = self.store.counts()["pending"]
        except Exception as exc:
            self._failed(exc)
            return None
        self.breaker.succeeded()
        return count

    # --- the reviewer side ------------------------------------------------------------
    def item(self, item_id: int) -> Item | None:
        return self.store.get(item_id)

    def history(self, item_id: int) -> list[Decision]:
        return self.store.history(item_id)

    def items(self, status: str = "pending", cursor: str | None = None, limit: int = 50, order: str = "oldest"):
        """One page of the queue (see ``ReviewStore.items``)."""
        return self.store.items(status=status, cursor=cursor, limit=limit, order=order)

    def thumbnail(self, item_id: int) -> bytes | None:
        """The item's thumbnail; None for one whose hash a ``reject`` list names (listed after it was queued)."""
        item = self.store.get(item_id)
        if item is None or self.listed(item):
            return None
        return self.store.thumbnail(item_id)

    def listed(self, item: Item) -> bool:
        """True when a ``reject`` list names this item's hash: a reviewer never sees its picture."""
        if item.pdq is None or item.pdq_quality is None:
            return False
        return self.known.rejected(Pdq(item.pdq, item.pdq_quality)) is not None

    def decided(self) -> Iterator[Item]:
        """Every decided item (the export)."""
        return self.store.decided()

    def decided_scores(self) -> Iterator[tuple[dict, str, str | None]]:
        """What calibration reads of every decided item."""
        return self.store.decided_scores()

    # --- the page's sessions (nsfw.review.sessions) ------------------------------------
    def sign_in(self, token: str, lifetime: dt.timedelta) -> tuple[str, str] | None:
        """``(reviewer, session secret)`` for a reviewer's token, or None: a session the server can end."""
        found = self.reviewers.identify(token)
        if found is None:
            return None
        name, key = found
        return name, self.store.sessions.start(name, key, lifetime)

    def session_reviewer(self, secret: str) -> str | None:
        """The reviewer of a live session: not signed out, not expired, its token still in the file.
        A session whose reviewer left the file ends here, with all the others of that reviewer."""
        found = self.store.sessions.find(secret)
        if found is None:
            return None
        name, key = found
        if not self.reviewers.holds(name, key):
            ended = self.store.sessions.end_all(name)
            log.warning("review sessions: %s is no longer in NSFW_REVIEWERS_FILE; %d sessions ended", name, ended)
            return None
        return name

    def sign_out(self, secret: str) -> None:
        self.store.sessions.end(secret)

    def decide(self, item_id: int, decision: str, reviewer: str):
        item = self.store.decide(item_id, decision, reviewer)
        if self.webhook is not None:
            self.webhook.wake()
        return item

    def undecide(self, item_id: int, reviewer: str):
        item = self.store.undecide(item_id, reviewer)
        if self.webhook is not None:
            self.webhook.wake()
        return item

    # --- the writer thread (writer.SightingWriter) -----------------------------------------
    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every sighting queued so far is written (tests, shutdown)."""
        self.writer.flush(timeout)

    def close(self) -> None:
        self.writer.close()
        if self.webhook is not None:
            self.webhook.close()
        self.known.close()
        self.store.close()
