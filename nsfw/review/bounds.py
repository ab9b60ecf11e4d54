"""What keeps the review database bounded: retention, an item cap, WAL checkpoints, URLs kept without secrets.

- ``prune``: NSFW_REVIEW_RETENTION_DAYS, counted from when the image was queued: past it every
  thumbnail (a decided item's too, unless NSFW_REVIEW_KEEP_DECIDED_THUMBNAILS) and every undecided
  item go. A decided item keeps its hash, scores and decision: that is what is remembered.
- ``cap``: NSFW_REVIEW_MAX_ITEMS items at most; past it, the oldest undecided items go first (with
  their thumbnails and history), counted in ``nsfw_review_events_total{event="capped_items"}``.
  Decided items are never deleted by the cap: they are what the service remembers.
- ``checkpoint``: SQLite's WAL is checkpointed and truncated (``journal_size_limit`` in
  ``schema.py`` caps what a checkpoint leaves), so a big delete does not leave a big file behind.
- ``source``: a URL as stored and shown, without its query string, fragment and user info (as the
  logs), unless NSFW_REVIEW_KEEP_URL_QUERIES keeps it whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine

from nsfw.observe.logs import redact_url
from nsfw.review.tables import DECISIONS, ITEMS, THUMBS

MAX_SOURCE_CHARS = 2048  # a longer URL is kept cut to this
CAP_BATCH = 1000  # undecided items deleted per statement


@dataclasses.dataclass(frozen=True)
class Pruned:
    items: int
    thumbnails: int


def source(url: str | None, keep_queries: bool = False) -> str | None:
    if not url:
        return None
    return redact_url(url, full=keep_queries)[:MAX_SOURCE_CHARS]


def prune(engine: Engine, cutoff: dt.datetime, keep_decided_thumbnails: bool) -> Pruned:
    """Delete the thumbnails (only undecided items' with ``keep_decided_thumbnails``) and the undecided items
    (with their history) of images first queued before ``cutoff``."""
    old = select(ITEMS.c.id).where(ITEMS.c.first_seen < cutoff)
    old_pending = old.where(ITEMS.c.decision.is_(None))
    with engine.begin() as conn:
        doomed_thumbs = old_pending if keep_decided_thumbnails else old
        thumbs = conn.execute(delete(THUMBS).where(THUMBS.c.item_id.in_(doomed_thumbs))).rowcount
        conn.execute(delete(DECISIONS).where(DECISIONS.c.item_id.in_(old_pending)))
        items = conn.execute(delete(ITEMS).where(ITEMS.c.first_seen < cutoff, ITEMS.c.decision.is_(None))).rowcount
    return Pruned(items=items, thumbnails=thumbs)


def cap(engine: Engine, max_items: int) -> int:
    """Delete the oldest undecided items beyond ``max_items`` items in all (0: no cap); how many."""
    if max_items <= 0:
        return 0
    deleted = 0
    while True:
        with engine.begin() as conn:
            excess = conn.execute(select(func.count()).select_from(ITEMS)).scalar_one() - max_items
            if excess <= 0:
                return deleted
            doomed = [
                row.id
                for row in conn.execute(
                    select(ITEMS.c.id)
                    .where(ITEMS.c.decision.is_(None))
                    .order_by(ITEMS.c.id)
                    .limit(min(excess, CAP_BATCH))
                )
            ]
            if not doomed:
                return deleted  # only decided items are left: they stay
            conn.execute(delete(THUMBS).where(THUMBS.c.item_id.in_(doomed)))
            conn.execute(delete(DECISIONS).where(DECISIONS.c.item_id.in_(doomed)))
            deleted += conn.execute(delete(ITEMS).where(ITEMS.c.id.in_(doomed), ITEMS.c.decision.is_(None))).rowcount


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL into the database and truncate it (a no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
