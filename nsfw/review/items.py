"""The review queue's values: an item, a page of items, a decision in its history, a sighting to count.

And the two things every read shares: the SELECT of an item with whether it has a thumbnail
(``select_items``), and the row it returns made an :class:`Item` (``from_row``), its URLs shown as
they are kept now. The store's modules (``sightings``, ``decisions``, ``listing``) speak these.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Select, select

from nsfw.review import MAX_ITEM_ID, bounds
from nsfw.review.tables import ITEMS, THUMBS


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
    scores: dict[str, float]  # the five class probabilities the model gave
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

    def to_dict(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        for name in ("first_seen", "last_seen", "decided_at"):
            fields[name] = iso(fields[name])
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

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reviewer": self.reviewer, "decided_at": iso(self.decided_at)}


@dataclasses.dataclass(frozen=True)
class Sighting:
    """One classification of an image the queue should know about."""

    sha256: str
    source: str | None  # the URL, None for an upload
    model: str
    scores: dict[str, float]
    verdict: str
    pdq: str | None = None
    pdq_quality: int | None = None
    follows: int | None = None  # a decided item this near-duplicate matched: queued decided as it is
    follows_decision: str | None = None
    match_distance: int | None = None


def select_items() -> Select[Any]:
    """Every column of an item, and ``has_thumbnail``: the thumbnail's bytes are never read with it."""
    return select(ITEMS, THUMBS.c.item_id.is_not(None).label("has_thumbnail")).select_from(
        ITEMS.outerjoin(THUMBS, THUMBS.c.item_id == ITEMS.c.id)
    )


def from_row(row: Any, keep_url_queries: bool = False) -> Item:
    """The Item of a ``select_items`` row."""
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


def valid_id(item_id: int) -> bool:
    """An id a row can have: a larger one would overflow the driver's 64-bit integer (500 or 503, not 404)."""
    return type(item_id) is int and 1 <= item_id <= MAX_ITEM_ID


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
