"""What keeps the review database bounded: an item cap, WAL checkpoints, and URLs kept without secrets.

- ``cap``: NSFW_REVIEW_MAX_ITEMS items at most; past it, the oldest undecided items go first (with
  their thumbnails and history), counted in ``nsfw_review_events_total{event="capped_items"}``.
  Decided items are never deleted by the cap: they are what the service remembers.
- ``checkpoint``: SQLite's WAL is checkpointed and truncated (``journal_size_limit`` in
  ``schema.py`` caps what a checkpoint leaves), so a big delete does not leave a big file behind.
- ``source``: a URL as stored and shown, without its query string, fragment and user info (as the
  logs), unless NSFW_REVIEW_KEEP_URL_QUERIES keeps it whole.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine

from nsfw.observe.logs import redact_url
from nsfw.review.tables import DECISIONS, ITEMS, THUMBS

MAX_SOURCE_CHARS = 2048  # a longer URL is kept cut to this
CAP_BATCH = 1000  # undecided items deleted per statement


def source(url: str | None, keep_queries: bool = False) -> str | None:
    if not url:
        return None
    return redact_url(url, full=keep_queries)[:MAX_SOURCE_CHARS]


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
