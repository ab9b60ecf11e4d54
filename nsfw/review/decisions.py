"""A person's decision on an item, its undo, and the history both leave; the webhook's body for each.

A decision (or undo) is one transaction: the item's row is updated first, which takes its lock, so
its ``version``, its time and its outbox row are in commit order; the near-duplicates that follow
it take the decision too; ``known_versions`` is raised so every worker's matcher reloads; and the
webhook's delivery is written beside it, so the announcement exists exactly when the decision does.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

from sqlalchemy import insert, select, true, update
from sqlalchemy.engine import Connection, Engine

from nsfw.errors import ReviewItemNotFound, UndoRefused
from nsfw.review.hashlists import bump
from nsfw.review.items import Decision, Item, from_row, iso, select_items, valid_id
from nsfw.review.tables import DECISIONS, ITEMS, OUTBOX


def apply(
    engine: Engine,
    item_id: int,
    decision: str | None,
    reviewer: str,
    *,
    clock: Callable[[], dt.datetime],
    webhook: bool,
    keep_url_queries: bool,
) -> Item:
    """A person's decision (None: an undo): the item stops following another (it is a source now), its
    followers take the decision (an undo sends them back to pending), and every matcher reloads. An undo
    takes back only ``reviewer``'s own decision (UndoRefused otherwise); ``webhook``: an outbox row too."""
    if not valid_id(item_id):
        raise ReviewItemNotFound()
    mine = ITEMS.c.decided_by == reviewer if decision is None else true()
    with engine.begin() as conn:
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
            raise _refused(conn, item_id)
        now = clock()
        conn.execute(update(ITEMS).where(ITEMS.c.id == item_id).values(decided_at=now if decision else None))
        conn.execute(
            update(ITEMS)
            .where(ITEMS.c.follows == item_id)
            .values(decision=decision, decided_at=now if decision else None)
        )
        bump(conn, "decisions")
        history = {"item_id": item_id, "decision": decision, "reviewer": reviewer, "decided_at": now}
        conn.execute(insert(DECISIONS).values(**history))
        row = conn.execute(select_items().where(ITEMS.c.id == item_id)).one()
        item = from_row(row, keep_url_queries)
        if webhook:
            # in the decision's own transaction: the announcement exists exactly when the decision does
            body = webhook_body(item, reviewer, now)
            conn.execute(
                insert(OUTBOX).values(item_id=item_id, body=body, attempts=0, next_attempt_at=now, created_at=now)
            )
    return item


def _refused(conn: Connection, item_id: int) -> Exception:
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


def history(engine: Engine, item_id: int) -> list[Decision]:
    """The item's decisions and undos, in the order made."""
    if not valid_id(item_id):
        return []
    query = select(DECISIONS).where(DECISIONS.c.item_id == item_id).order_by(DECISIONS.c.id)
    with engine.connect() as conn:
        return [Decision(row.decision, row.reviewer, row.decided_at) for row in conn.execute(query)]


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
        "decided_at": iso(at),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
