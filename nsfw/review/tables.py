"""The review queue's tables (SQLAlchemy 2 declarative); Alembic migrations create them (migrations/).

One row per image in ``review_items``, keyed by the sha256 of its bytes; its thumbnail in a table
of its own, so listing items never reads image data and retention drops thumbnails with one
DELETE; every decision (and undo) in ``review_decisions``; webhook deliveries still to make in
``review_webhook_outbox``, written in the same transaction as the decision they announce;
reviewers' page sessions in ``review_sessions``, so that a sign-out ends one on the server. Known content
(issue 20): an item's PDQ hash, the operators' ``hash_lists`` with their entries, and ``known_versions``.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Table, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database: SQLite keeps no time zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class ReviewItem(Base):
    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    sources: Mapped[list] = mapped_column(JSON, default=list)
    model: Mapped[str] = mapped_column(String(64))
    scores: Mapped[dict] = mapped_column(JSON)
    verdict: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # one more with every decision and undo, under the row's lock: the webhook's per-item order
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # known content (migration 0003): the image's PDQ, and the decided item a near-duplicate followed
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    follows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    match_distance: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        UniqueConstraint("sha256", name="uq_review_items_sha256"),
        Index("ix_review_items_decision_id", "decision", "id"),
        Index("ix_review_items_decision_seen", "decision", "seen_count", "id"),
        Index("ix_review_items_first_seen", "first_seen"),
    )


class ReviewThumbnail(Base):
    __tablename__ = "review_thumbnails"

    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class ReviewDecision(Base):
    """One decision or undo (``decision`` None), in the order made: the item's history."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookOutbox(Base):
    """A webhook delivery still to make: the exact signed body, and when to try next."""

    __tablename__ = "review_webhook_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # the item announced: only its oldest delivery is sent, so a receiver gets its versions in order
    item_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class ReviewSession(Base):
    """A reviewer's page session: the cookie holds its secret, this row its sha256; a sign-out deletes it."""

    __tablename__ = "review_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's secret
    reviewer: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(64))  # which of the reviewer's tokens signed in (a changed one ends it)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class HashList(Base):
    """An operator's named list of PDQ hashes and what a match does (``adult``, ``safe``, ``reject``)."""

    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("name", name="uq_hash_lists_name"),)


class HashListEntry(Base):
    __tablename__ = "hash_list_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"), index=True)
    pdq: Mapped[str] = mapped_column(String(64))
    distance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)


class KnownVersion(Base):
    """A counter per kind of known content (``decisions``, ``lists``), raised in the transaction of every
    change: each worker polls these two rows and reloads its in-memory index only when one moved."""

    __tablename__ = "known_versions"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


# The Core tables the queries use, typed once: ``Model.__table__`` is declared a FromClause, which
# ``insert``/``update``/``delete`` do not accept, though a declarative model's is always a Table.
ITEMS: Table = cast(Table, ReviewItem.__table__)
THUMBS: Table = cast(Table, ReviewThumbnail.__table__)
DECISIONS: Table = cast(Table, ReviewDecision.__table__)
OUTBOX: Table = cast(Table, WebhookOutbox.__table__)
SESSIONS: Table = cast(Table, ReviewSession.__table__)
LISTS: Table = cast(Table, HashList.__table__)
ENTRIES: Table = cast(Table, HashListEntry.__table__)
VERSIONS: Table = cast(Table, KnownVersion.__table__)
