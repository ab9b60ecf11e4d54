"""The review queue's store: items keyed by image sha256, decisions with their history, retention.

One :class:`ReviewStore` per process, over one SQLAlchemy engine (SQLite by default, PostgreSQL
when several instances share the queue; see ``schema.py``). Everything is SQLAlchemy Core: the hot
calls (``decisions`` on every classification, ``record`` for every queued image) are a single
statement or two, with no ORM unit of work around them.

The store is the queue's one face; the work is in modules by responsibility: ``sightings``
(counting images), ``decisions`` (decisions, undo, versions, the webhook's body), ``listing``
(pages and reads), ``bounds`` (retention, the item cap, checkpoints), ``lookups`` (the per-request
decision lookup), ``outbox`` and ``sessions``; the values they share are in ``items``.

In the web app, the one store (with the reviewers) belongs to the :class:`nsfw.review.service.Review`
of the app (``nsfw.web.current.review()``; absent when NSFW_REVIEW=off), which the views go through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy.engine import Engine

from nsfw.errors import InvalidDecision
from nsfw.review import bounds, decisions, listing, schema, sightings
from nsfw.review.bounds import Pruned
from nsfw.review.items import Decision, Item, ItemPage, Sighting, utcnow
from nsfw.review.lookups import DecisionLookups
from nsfw.review.outbox import Outbox
from nsfw.review.sessions import Sessions
from nsfw.verdict import DECISIONS as DECISION_VALUES

# the queue's values, where its callers have always found them
__all__ = ["Decision", "Item", "ItemPage", "Pruned", "ReviewStore", "Sighting", "utcnow"]


class ReviewStore:
    """The queue in a database. ``clock`` (aware UTC datetimes) is a seam for retention tests."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_sources: int = 10,
        retention_days: float = 30.0,
        keep_decided_thumbnails: bool = False,
        webhook: bool = False,
        clock: Callable[[], dt.datetime] = utcnow,
        lookup_timeout: float = 0.25,
        lookup_pool: int = 4,
        max_items: int = 0,
        keep_url_queries: bool = False,
    ) -> None:
        self.engine = engine
        self.max_sources = max_sources
        self.retention_days = retention_days
        self.keep_decided_thumbnails = keep_decided_thumbnails
        self.webhook = webhook  # write an outbox row with every decision
        self.clock = clock
        self.max_items = max_items  # 0: no cap
        self.keep_url_queries = keep_url_queries
        self.outbox = Outbox(engine, clock)
        self.sessions = Sessions(engine, clock)
        self._lookups = DecisionLookups(engine, lookup_timeout, lookup_pool)

    @classmethod
    def from_settings(cls, settings, *, bounded: bool = True, **kwargs: Any) -> ReviewStore:
        """The store NSFW_DATABASE_URL names; migrated first when NSFW_DB_AUTO_MIGRATE is on. ``bounded``:
        every statement within NSFW_REVIEW_DB_TIMEOUT (the service); False for an operator's command."""
        if settings.db_auto_migrate:
            schema.upgrade(settings.database_url)
        timeout = settings.review_db_timeout if bounded else None
        return cls(
            schema.engine(settings.database_url, timeout=timeout, pool=settings.review_db_pool),
            max_sources=settings.review_max_sources,
            retention_days=settings.review_retention_days,
            keep_decided_thumbnails=settings.review_keep_decided_thumbnails,
            webhook=settings.review_webhook_url is not None,
            lookup_timeout=settings.review_lookup_timeout,
            lookup_pool=settings.review_db_pool,
            max_items=settings.review_max_items,
            keep_url_queries=settings.review_keep_url_queries,
            **kwargs,
        )

    def close(self) -> None:
        self._lookups.close()
        self.engine.dispose()

    # --- classification side -------------------------------------------------
    def decisions(self, sha256s: Iterable[str]) -> dict[str, str]:
        """sha256 -> decision, for the images among these that a reviewer has decided.

        The lookup every classification makes while review is on, so it skips SQLAlchemy: one
        prepared statement on a DBAPI connection held for lookups only (measured by bench/review.py:
        SQLAlchemy's pool checkout and statement handling cost 20 times the query itself on SQLite).
        """
        wanted = list(dict.fromkeys(sha256s))
        if not wanted:
            return {}
        return self._lookups.decisions(wanted)

    def record(self, sighting: Sighting, thumbnail: Callable[[], bytes | None] | None = None) -> bool:
        """Count a sighting: a new item (True; ``thumbnail()`` is called only then) or one more view.
        Safe from any number of processes at once (``sightings.record``)."""
        return sightings.record(
            self.engine,
            sighting,
            thumbnail,
            clock=self.clock,
            max_sources=self.max_sources,
            keep_url_queries=self.keep_url_queries,
        )

    # --- reviewer side ---------------------------------------------------------
    def items(
        self, status: str = "pending", cursor: str | None = None, limit: int = 50, order: str = "oldest"
    ) -> ItemPage:
        """One page of items, oldest (queued first) or most seen first; ``next_cursor`` continues it
        (keyset pagination: ``listing.page``)."""
        return listing.page(self.engine, status, cursor, limit, order, self.keep_url_queries)

    def get(self, item_id: int) -> Item | None:
        return listing.get(self.engine, item_id, self.keep_url_queries)

    def get_by_sha256(self, sha256: str) -> Item | None:
        return listing.get_by_sha256(self.engine, sha256, self.keep_url_queries)

    def thumbnail(self, item_id: int) -> bytes | None:
        return listing.thumbnail(self.engine, item_id)

    def decide(self, item_id: int, decision: str, reviewer: str) -> Item:
        """Record ``decision`` ("adult" or "safe") by ``reviewer``; a later one replaces it, both stay in history."""
        if decision not in DECISION_VALUES:
            raise InvalidDecision()
        return self._set(item_id, decision, reviewer)

    def undecide(self, item_id: int, reviewer: str) -> Item:
        """Back to pending (the page's undo); the undo is in the history too.

        Only the reviewer who made the item's current decision may take it back: UndoRefused when
        another reviewer decided it since (or it is pending already), so an undo never wipes
        someone else's later decision. The check is in the UPDATE itself, so no race slips past it.
        """
        return self._set(item_id, None, reviewer)

    def _set(self, item_id: int, decision: str | None, reviewer: str) -> Item:
        return decisions.apply(
            self.engine,
            item_id,
            decision,
            reviewer,
            clock=self.clock,
            webhook=self.webhook,
            keep_url_queries=self.keep_url_queries,
        )

    def history(self, item_id: int) -> list[Decision]:
        return decisions.history(self.engine, item_id)

    def decided(self, batch: int = 500) -> Iterator[Item]:
        """Every decided item with its scores, by id, read a batch at a time (export, calibration)."""
        return listing.decided(self.engine, batch, self.keep_url_queries)

    def decided_scores(self, batch: int = 5000) -> Iterator[tuple[dict[str, Any], str, str | None]]:
        """``(scores, decision, verdict)`` of every decided item, by id: all that calibration needs."""
        return listing.decided_scores(self.engine, batch)

    def decided_hashes(self, min_quality: int) -> list[tuple[int, str, str]]:
        """``(id, pdq, decision)`` of every item a person decided whose hash may be matched (no followers)."""
        return listing.decided_hashes(self.engine, min_quality)

    def counts(self) -> dict[str, int]:
        return listing.counts(self.engine)

    # --- retention ---------------------------------------------------------------
    def prune(self, now: dt.datetime | None = None) -> Pruned:
        """Delete what NSFW_REVIEW_RETENTION_DAYS allows no longer (``bounds.prune``): counted from when the
        image was queued, every thumbnail (a decided item's too, unless NSFW_REVIEW_KEEP_DECIDED_THUMBNAILS)
        and every undecided item. A decided item keeps its hash, scores and decision: that is what is remembered."""
        cutoff = (now or self.clock()) - dt.timedelta(days=self.retention_days)
        return bounds.prune(self.engine, cutoff, self.keep_decided_thumbnails)

    def cap(self) -> int:
        """NSFW_REVIEW_MAX_ITEMS: the oldest undecided items beyond it deleted (``bounds.cap``); how many."""
        return bounds.cap(self.engine, self.max_items)

    def checkpoint(self) -> None:
        """SQLite's WAL checkpointed and truncated (``bounds.checkpoint``)."""
        bounds.checkpoint(self.engine)
