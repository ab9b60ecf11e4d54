"""Counting sightings: a new image becomes an item (with its thumbnail), a known one one more view.

The writer's hot path (``Review``'s background thread, every queued classification): one UPDATE
for an image seen before, an INSERT (and its thumbnail's) for a new one. Safe from any number of
processes at once: the UPDATE's row lock orders concurrent writers, and a second process
inserting the same new image meets the unique sha256 and counts its sighting as a view instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from nsfw.review import bounds
from nsfw.review.items import Sighting
from nsfw.review.tables import ITEMS, THUMBS


def record(
    engine: Engine,
    sighting: Sighting,
    thumbnail: Callable[[], bytes | None] | None,
    *,
    clock: Callable[[], dt.datetime],
    max_sources: int,
    keep_url_queries: bool,
) -> bool:
    """Count a sighting: a new item (True; ``thumbnail()`` is called only then) or one more view."""
    if _seen_again(engine, sighting, clock, max_sources, keep_url_queries):
        return False
    jpeg = thumbnail() if thumbnail is not None else None
    now = clock()
    source = bounds.source(sighting.source, keep_url_queries)
    sources = [source] if source and max_sources else []
    try:
        with engine.begin() as conn:
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
        _seen_again(engine, sighting, clock, max_sources, keep_url_queries)
        return False
    return True


def _seen_again(
    engine: Engine,
    sighting: Sighting,
    clock: Callable[[], dt.datetime],
    max_sources: int,
    keep_url_queries: bool,
) -> bool:
    """One more view of an existing item, its source added if new and there is room; False: no such item."""
    with engine.begin() as conn:
        row = conn.execute(
            update(ITEMS)
            .where(ITEMS.c.sha256 == sighting.sha256)
            .values(seen_count=ITEMS.c.seen_count + 1, last_seen=clock())
            .returning(ITEMS.c.id, ITEMS.c.sources)
        ).first()
        if row is None:
            return False
        source = bounds.source(sighting.source, keep_url_queries)
        sources = list(row.sources or [])
        if source and source not in sources and len(sources) < max_sources:
            # read after this transaction's UPDATE took the row: no concurrent writer loses a source
            conn.execute(update(ITEMS).where(ITEMS.c.id == row.id).values(sources=[*sources, source]))
        return True


def _following(sighting: Sighting, now: dt.datetime) -> dict[str, Any]:
    """A new item that follows a decided one is queued decided, linked to it."""
    if sighting.follows is None:
        return {}
    return {
        "decision": sighting.follows_decision,
        "decided_at": now,
        "follows": sighting.follows,
        "match_distance": sighting.match_distance,
    }
