"""Reading the queue: pages of items (keyset cursors), one item, its thumbnail, the decided ones, counts.

Pages are keyset-paginated: the cursor holds the last item's sort key, so a page costs the same
however deep, and items decided meanwhile never shift the next page. A cursor is opaque to the
caller (base64 of a little JSON) and names the status and order it was made for.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine

from nsfw.errors import InvalidCursor, InvalidReviewQuery
from nsfw.review.items import Item, ItemPage, from_row, select_items, valid_id
from nsfw.review.tables import ITEMS, THUMBS

STATUSES = ("pending", "decided")
ORDERS = ("oldest", "most_seen")
MAX_LIMIT = 200


def page(engine: Engine, status: str, cursor: str | None, limit: int, order: str, keep_url_queries: bool) -> ItemPage:
    """One page of items, oldest (queued first) or most seen first; ``next_cursor`` continues it."""
    if status not in STATUSES:
        raise InvalidReviewQuery(f"status must be one of {', '.join(STATUSES)}")
    if order not in ORDERS:
        raise InvalidReviewQuery(f"order must be one of {', '.join(ORDERS)}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidReviewQuery(f"limit must be between 1 and {MAX_LIMIT}")
    query = select_items()
    query = query.where(ITEMS.c.decision.is_(None) if status == "pending" else ITEMS.c.decision.is_not(None))
    if cursor is not None:
        key = _read_cursor(cursor, status, order)
        if order == "oldest":
            query = query.where(ITEMS.c.id > key[0])
        else:
            seen, last_id = key
            query = query.where(or_(ITEMS.c.seen_count < seen, and_(ITEMS.c.seen_count == seen, ITEMS.c.id > last_id)))
    if order == "oldest":
        query = query.order_by(ITEMS.c.id)
    else:
        query = query.order_by(ITEMS.c.seen_count.desc(), ITEMS.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
    items = [from_row(row, keep_url_queries) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        key = [last.id] if order == "oldest" else [last.seen_count, last.id]
        next_cursor = _write_cursor(status, order, key)
    return ItemPage(items, next_cursor)


def get(engine: Engine, item_id: int, keep_url_queries: bool) -> Item | None:
    if not valid_id(item_id):
        return None
    with engine.connect() as conn:
        row = conn.execute(select_items().where(ITEMS.c.id == item_id)).first()
    return None if row is None else from_row(row, keep_url_queries)


def get_by_sha256(engine: Engine, sha256: str, keep_url_queries: bool) -> Item | None:
    with engine.connect() as conn:
        row = conn.execute(select_items().where(ITEMS.c.sha256 == sha256)).first()
    return None if row is None else from_row(row, keep_url_queries)


def thumbnail(engine: Engine, item_id: int) -> bytes | None:
    if not valid_id(item_id):
        return None
    with engine.connect() as conn:
        jpeg: bytes | None = conn.execute(select(THUMBS.c.jpeg).where(THUMBS.c.item_id == item_id)).scalar()
        return jpeg


def decided(engine: Engine, batch: int, keep_url_queries: bool) -> Iterator[Item]:
    """Every decided item with its scores, by id, read a batch at a time (export, calibration)."""
    last = 0
    while True:
        query = select_items().where(ITEMS.c.decision.is_not(None), ITEMS.c.id > last).order_by(ITEMS.c.id).limit(batch)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield from_row(row, keep_url_queries)
        if len(rows) < batch:
            return
        last = rows[-1].id


def decided_scores(engine: Engine, batch: int) -> Iterator[tuple[dict[str, Any], str, str | None]]:
    """``(scores, decision, verdict)`` of every decided item, by id: all that calibration needs.

    Reading whole items (``decided``) costs about 0.1 ms each, mostly the date columns and the
    thumbnail join: 10 s per calibration at 100k decisions. These three columns cost a fraction."""
    last = 0
    columns = (ITEMS.c.id, ITEMS.c.scores, ITEMS.c.decision, ITEMS.c.verdict)
    while True:
        query = (
            select(*columns).where(ITEMS.c.decision.is_not(None), ITEMS.c.id > last).order_by(ITEMS.c.id).limit(batch)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield dict(row.scores or {}), row.decision, row.verdict
        if len(rows) < batch:
            return
        last = rows[-1].id


def decided_hashes(engine: Engine, min_quality: int) -> list[tuple[int, str, str]]:
    """``(id, pdq, decision)`` of every item a person decided whose hash may be matched: what each
    worker's matcher indexes. Followers are left out, so a match never chains further than one step."""
    query = select(ITEMS.c.id, ITEMS.c.pdq, ITEMS.c.decision).where(
        ITEMS.c.decision.is_not(None),
        ITEMS.c.follows.is_(None),
        ITEMS.c.pdq.is_not(None),
        ITEMS.c.pdq_quality >= min_quality,
    )
    with engine.connect() as conn:
        return [(row.id, row.pdq, row.decision) for row in conn.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    """Items pending and decided."""
    query = select(ITEMS.c.decision.is_(None).label("pending"), func.count()).group_by("pending")
    with engine.connect() as conn:
        found = {bool(pending): n for pending, n in conn.execute(query)}
    return {"pending": found.get(True, 0), "decided": found.get(False, 0)}


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
