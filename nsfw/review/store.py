"""The review queue's store: items keyed by image sha256, decisions with their history, retention.

One :class:`ReviewStore` per process, over one SQLAlchemy engine (SQLite by default, PostgreSQL
when several instances share the queue; see ``schema.py``). Everything here is SQLAlchemy Core:
the hot calls (``decisions`` on every classification, ``record`` for every queued image) are a
single statement or two, with no ORM unit of work around them.

In the web app, the one store (with the reviewers) lives on the Flask app as
``app.extensions["nsfw_review"]``, a :class:`nsfw.review.service.Review` with ``.store`` and
``.reviewers``; the key is absent when NSFW_REVIEW=off. Blueprints get it through
``nsfw.web.review_api.review()`` (raises ReviewDisabled when off) and authenticate a reviewer
with ``nsfw.web.review_api.reviewer()`` (the Bearer token's name, or NotReviewer).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import and_, delete, func, insert, or_, select, true, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from nsfw.errors import InvalidCursor, InvalidDecision, InvalidReviewQuery, ReviewItemNotFound, UndoRefused
from nsfw.review import MAX_ITEM_ID, bounds, schema
from nsfw.review.hashlists import bump
from nsfw.review.lookups import DecisionLookups
from nsfw.review.outbox import Outbox
from nsfw.review.sessions import Sessions
from nsfw.review.tables import DECISIONS, ITEMS, OUTBOX, THUMBS
from nsfw.verdict import DECISIONS as DECISION_VALUES

STATUSES = ("pending", "decided")
ORDERS = ("oldest", "most_seen")
MAX_LIMIT = 200


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class Item:
    id: int
    sha256: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    seen_count: int
    sources: list[str]
    model: str
    scores: dict  # the five class probabilities the model gave
    verdict: str  # the model's, at the service's thresholds when the image was first queued
    decision: str | None  # None (pending), "adult" or "safe"
    decided_by: str | None  # the reviewer's name
    decided_at: dt.datetime | None
    has_thumbnail: bool
    version: int  # one more with every decision and undo, assigned under the row's lock
    pdq: str | None = None  # the image's PDQ hash (64 hex), when it was hashed
    pdq_quality: int | None = None
    follows: int | None = None  # the decided item whose decision this near-duplicate follows
    match_distance: int | None = None  # bits between this item's hash and that item's

    def to_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        for name in ("first_seen", "last_seen", "decided_at"):
            fields[name] = _iso(fields[name])
        return fields


@dataclasses.dataclass(frozen=True)
class ItemPage:
    items: list[Item]
    next_cursor: str | None


@dataclasses.dataclass(frozen=True)
class Decision:
    decision: str | None  # None: an undo, back to pending
    reviewer: str
    decided_at: dt.datetime

    def to_dict(self) -> dict:
        return {"decision": self.decision, "reviewer": self.reviewer, "decided_at": _iso(self.decided_at)}


@dataclasses.dataclass(frozen=True)
class Sighting:
    """One classification of an image the queue should know about."""

    sha256: str
    source: str | None  # the URL, None for an upload
    model: str
    scores: dict
    verdict: str
    pdq: str | None = None
    pdq_quality: int | None = None
    follows: int | None = None  # a decided item this near-duplicate matched: queued decided as it is
    follows_decision: str | None = None
    match_distance: int | None = None


@dataclasses.dataclass(frozen=True)
class Pruned:
    items: int
    thumbnails: int


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
    ):
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
    def from_settings(cls, settings, *, bounded: bool = True, **kwargs) -> ReviewStore:
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

        Safe from any number of processes at once: an existing row is updated in one statement
        (the row lock orders concurrent writers), and a second process inserting the same new
        image meets the unique sha256 and counts its sighting as a view instead.
        """
        if self._seen_again(sighting):
            return False
        jpeg = thumbnail() if thumbnail is not None else None
        now = self.clock()
        source = bounds.source(sighting.source, self.keep_url_queries)
        sources = [source] if source and self.max_sources else []
        try:
            with self.engine.begin() as conn:
                item_id = conn.execute(
                    insert(ITEMS)
                    .values(
                        sha256=sighting.sha256,
                        first_seen=now,
                        last_seen=now,
                        seen_count=1,
                        sources=sources,
                        model=sighting.model,
                        scores=sighting.scores,
                        verdict=sighting.verdict,
                        pdq=sighting.pdq,
                        pdq_quality=sighting.pdq_quality,
                        **_following(sighting, now),
                    )
                    .returning(ITEMS.c.id)
                ).scalar_one()
                if jpeg:
                    conn.execute(insert(THUMBS).values(item_id=item_id, jpeg=jpeg))
        except IntegrityError:  # another worker queued it first
            self._seen_again(sighting)
            return False
        return True

    def _seen_again(self, sighting: Sighting) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.sha256 == sighting.sha256)
                .values(seen_count=ITEMS.c.seen_count + 1, last_seen=self.clock())
                .returning(ITEMS.c.id, ITEMS.c.sources)
            ).first()
            if row is None:
                return False
            source = bounds.source(sighting.source, self.keep_url_queries)
            sources = list(row.sources or [])
            if source and source not in sources and len(sources) < self.max_sources:
                # read after this transaction's UPDATE took the row: no concurrent writer loses a source
                conn.execute(update(ITEMS).where(ITEMS.c.id == row.id).values(sources=[*sources, source]))
            return True

    # --- reviewer side ---------------------------------------------------------
    def items(
        self, status: str = "pending", cursor: str | None = None, limit: int = 50, order: str = "oldest"
    ) -> ItemPage:
        """One page of items, oldest (queued first) or most seen first; ``next_cursor`` continues it.

        Keyset pagination: the cursor holds the last item's sort key, so a page costs the same
        however deep, and items decided meanwhile never shift the next page.
        """
        if status not in STATUSES:
            raise InvalidReviewQuery(f"status must be one of {', '.join(STATUSES)}")
        if order not in ORDERS:
            raise InvalidReviewQuery(f"order must be one of {', '.join(ORDERS)}")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidReviewQuery(f"limit must be between 1 and {MAX_LIMIT}")
        query = self._select_items()
        query = query.where(ITEMS.c.decision.is_(None) if status == "pending" else ITEMS.c.decision.is_not(None))
        if cursor is not None:
            key = _read_cursor(cursor, status, order)
            if order == "oldest":
                query = query.where(ITEMS.c.id > key[0])
            else:
                seen, last_id = key
                query = query.where(
                    or_(ITEMS.c.seen_count < seen, and_(ITEMS.c.seen_count == seen, ITEMS.c.id > last_id))
                )
        if order == "oldest":
            query = query.order_by(ITEMS.c.id)
        else:
            query = query.order_by(ITEMS.c.seen_count.desc(), ITEMS.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
        items = [self._item(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            key = [last.id] if order == "oldest" else [last.seen_count, last.id]
            next_cursor = _write_cursor(status, order, key)
        return ItemPage(items, next_cursor)

    def get(self, item_id: int) -> Item | None:
        if not _valid_id(item_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(self._select_items().where(ITEMS.c.id == item_id)).first()
        return None if row is None else self._item(row)

    def get_by_sha256(self, sha256: str) -> Item | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._select_items().where(ITEMS.c.sha256 == sha256)).first()
        return None if row is None else self._item(row)

    def thumbnail(self, item_id: int) -> bytes | None:
        if not _valid_id(item_id):
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(THUMBS.c.jpeg).where(THUMBS.c.item_id == item_id)).scalar()

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
        """A person's decision: the item stops following another (it is a source now), its followers
        take the decision (an undo sends them back to pending), and every matcher reloads. An undo
        takes back only ``reviewer``'s own decision (UndoRefused otherwise)."""
        if not _valid_id(item_id):
            raise ReviewItemNotFound()
        mine = ITEMS.c.decided_by == reviewer if decision is None else true()
        with self.engine.begin() as conn:
            # The row's lock first: the version, the time and the outbox row are then in commit order
            # (the time was once taken before the lock, so a later commit could carry an earlier time).
            version = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item_id, mine)
                .values(
                    version=ITEMS.c.version + 1,
                    decision=decision,
                    decided_by=reviewer if decision else None,
                    follows=None,
                    match_distance=None,
                )
                .returning(ITEMS.c.version)
            ).scalar()
            if version is None:
                raise self._not_set(conn, item_id, reviewer)
            now = self.clock()
            conn.execute(update(ITEMS).where(ITEMS.c.id == item_id).values(decided_at=now if decision else None))
            conn.execute(
                update(ITEMS)
                .where(ITEMS.c.follows == item_id)
                .values(decision=decision, decided_at=now if decision else None)
            )
            bump(conn, "decisions")
            history = {"item_id": item_id, "decision": decision, "reviewer": reviewer, "decided_at": now}
            conn.execute(insert(DECISIONS).values(**history))
            row = conn.execute(self._select_items().where(ITEMS.c.id == item_id)).one()
            item = self._item(row)
            if self.webhook:
                # in the decision's own transaction: the announcement exists exactly when the decision does
                body = webhook_body(item, reviewer, now)
                conn.execute(
                    insert(OUTBOX).values(item_id=item_id, body=body, attempts=0, next_attempt_at=now, created_at=now)
                )
        return item

    def _not_set(self, conn, item_id: int, reviewer: str) -> Exception:
        """Why an UPDATE of ``item_id`` changed nothing: no such item, or an undo of a decision not the reviewer's."""
        row = conn.execute(select(ITEMS.c.decision, ITEMS.c.decided_by).where(ITEMS.c.id == item_id)).first()
        if row is None:
            return ReviewItemNotFound()
        if row.decision is None:
            return UndoRefused(f"item {item_id} is pending already: its decision was undone or changed since yours")
        return UndoRefused(
            f"{row.decided_by} decided item {item_id} ({row.decision}) after you: "
            "undo takes back only your own latest decision, so theirs stands"
        )

    def history(self, item_id: int) -> list[Decision]:
        if not _valid_id(item_id):
            return []
        query = select(DECISIONS).where(DECISIONS.c.item_id == item_id).order_by(DECISIONS.c.id)
        with self.engine.connect() as conn:
            return [Decision(row.decision, row.reviewer, row.decided_at) for row in conn.execute(query)]

    def decided(self, batch: int = 500) -> Iterator[Item]:
        """Every decided item with its scores, by id, read a batch at a time (export, calibration)."""
        last = 0
        while True:
            query = (
                self._select_items()
                .where(ITEMS.c.decision.is_not(None), ITEMS.c.id > last)
                .order_by(ITEMS.c.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield self._item(row)
            if len(rows) < batch:
                return
            last = rows[-1].id

    def decided_scores(self, batch: int = 5000) -> Iterator[tuple[dict, str, str | None]]:
        """``(scores, decision, verdict)`` of every decided item, by id: all that calibration needs.

        Reading whole items (``decided``) costs about 0.1 ms each, mostly the date columns and the
        thumbnail join: 10 s per calibration at 100k decisions. These three columns cost a fraction."""
        last = 0
        columns = (ITEMS.c.id, ITEMS.c.scores, ITEMS.c.decision, ITEMS.c.verdict)
        while True:
            query = (
                select(*columns)
                .where(ITEMS.c.decision.is_not(None), ITEMS.c.id > last)
                .order_by(ITEMS.c.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield dict(row.scores or {}), row.decision, row.verdict
            if len(rows) < batch:
                return
            last = rows[-1].id

    def decided_hashes(self, min_quality: int) -> list[tuple[int, str, str]]:
        """``(id, pdq, decision)`` of every item a person decided whose hash may be matched: what each
        worker's matcher indexes. Followers are left out, so a match never chains further than one step."""
        query = select(ITEMS.c.id, ITEMS.c.pdq, ITEMS.c.decision).where(
            ITEMS.c.decision.is_not(None),
            ITEMS.c.follows.is_(None),
            ITEMS.c.pdq.is_not(None),
            ITEMS.c.pdq_quality >= min_quality,
        )
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        query = select(ITEMS.c.decision.is_(None).label("pending"), func.count()).group_by("pending")
        with self.engine.connect() as conn:
            found = {bool(pending): n for pending, n in conn.execute(query)}
        return {"pending": found.get(True, 0), "decided": found.get(False, 0)}

    # --- retention ---------------------------------------------------------------
    def prune(self, now: dt.datetime | None = None) -> Pruned:
        """Delete what NSFW_REVIEW_RETENTION_DAYS allows no longer: counted from when the image was queued,
        every thumbnail (a decided item's too, unless NSFW_REVIEW_KEEP_DECIDED_THUMBNAILS) and every
        undecided item. A decided item keeps its hash, scores and decision: that is what is remembered."""
        cutoff = (now or self.clock()) - dt.timedelta(days=self.retention_days)
        old = select(ITEMS.c.id).where(ITEMS.c.first_seen < cutoff)
        old_pending = old.where(ITEMS.c.decision.is_(None))
        with self.engine.begin() as conn:
            doomed_thumbs = old_pending if self.keep_decided_thumbnails else old
            thumbs = conn.execute(delete(THUMBS).where(THUMBS.c.item_id.in_(doomed_thumbs))).rowcount
            conn.execute(delete(DECISIONS).where(DECISIONS.c.item_id.in_(old_pending)))
            items = conn.execute(delete(ITEMS).where(ITEMS.c.first_seen < cutoff, ITEMS.c.decision.is_(None))).rowcount
        return Pruned(items=items, thumbnails=thumbs)

    def cap(self) -> int:
        """NSFW_REVIEW_MAX_ITEMS: the oldest undecided items beyond it deleted (``bounds.cap``); how many."""
        return bounds.cap(self.engine, self.max_items)

    def checkpoint(self) -> None:
        """SQLite's WAL checkpointed and truncated (``bounds.checkpoint``)."""
        bounds.checkpoint(self.engine)

    def _item(self, row) -> Item:
        return _item(row, self.keep_url_queries)

    @staticmethod
    def _select_items():
        return select(ITEMS, THUMBS.c.item_id.is_not(None).label("has_thumbnail")).select_from(
            ITEMS.outerjoin(THUMBS, THUMBS.c.item_id == ITEMS.c.id)
        )


def webhook_body(item: Item, reviewer: str, at: dt.datetime) -> bytes:
    """What the webhook receives for a decision (``decision`` null: undone, back to pending).

    ``delivery`` is unique to this delivery (the same in its retries: a receiver may drop one it
    has seen); ``item.version`` orders the item's decisions (a receiver ignores one older than it holds).
    """
    payload = {
        "event": "review.decision",
        "delivery": uuid.uuid4().hex,
        "item": {
            "id": item.id,
            "sha256": item.sha256,
            "model": item.model,
            "scores": item.scores,
            "verdict": item.verdict,
            "seen_count": item.seen_count,
            "version": item.version,
        },
        "decision": item.decision,
        "reviewer": reviewer,
        "decided_at": _iso(at),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _item(row, keep_url_queries: bool = False) -> Item:
    return Item(
        id=row.id,
        sha256=row.sha256,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        seen_count=row.seen_count,
        # shown as kept now (rows kept before too); a stored source is never empty, so none is dropped
        sources=[shown for url in row.sources or [] if (shown := bounds.source(url, keep_url_queries)) is not None],
        model=row.model,
        scores=dict(row.scores or {}),
        verdict=row.verdict,
        decision=row.decision,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        has_thumbnail=bool(row.has_thumbnail),
        version=row.version,
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        follows=row.follows,
        match_distance=row.match_distance,
    )


def _valid_id(item_id: int) -> bool:
    """An id a row can have: a larger one would overflow the driver's 64-bit integer (500 or 503, not 404)."""
    return type(item_id) is int and 1 <= item_id <= MAX_ITEM_ID


def _following(sighting: Sighting, now: dt.datetime) -> dict:
    """A new item that follows a decided one is queued decided, linked to it."""
    if sighting.follows is None:
        return {}
    return {
        "decision": sighting.follows_decision,
        "decided_at": now,
        "follows": sighting.follows,
        "match_distance": sighting.match_distance,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _write_cursor(status: str, order: str, key: list[int]) -> str:
    raw = json.dumps({"s": status, "o": order, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, status: str, order: str) -> list[int]:
    """The key a cursor holds; InvalidCursor if it is not one ours, or was made for another status or order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        key = data["k"]
        valid = (
            isinstance(data, dict)
            and data.get("s") == status
            and data.get("o") == order
            and isinstance(key, list)
            and len(key) == (1 if order == "oldest" else 2)
            and all(type(k) is int and 0 <= k < 2**62 for k in key)
        )
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, RecursionError):
        valid = False
    if not valid:
        raise InvalidCursor("the cursor is not one this service gave out for this status and order")
    return key
