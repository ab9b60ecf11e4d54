"""The webhook's outbox: deliveries written with each decision, claimed and sent by ``webhook.py``.

A decision and its delivery are written in one transaction (``ReviewStore``), so a delivery
survives a restart; each is claimed for a lease before it is sent, so two processes sharing the
database do not send it at once. Only an item's oldest delivery can be claimed: the next waits
until it is delivered or dropped, so a receiver hears an item's decisions in version order
whichever worker sends them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.engine import Engine

from nsfw.review.tables import OUTBOX


class Outbox:
    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]):
        self.engine = engine
        self.clock = clock

    def claim(self, now: dt.datetime, lease: dt.timedelta, limit: int = 10) -> list[tuple[int, bytes, int]]:
        """Due deliveries, each the oldest of its item, claimed for ``lease`` so another process does not
        send it too: ``(id, body, attempts)``."""
        query = (
            select(OUTBOX.c.id, OUTBOX.c.body, OUTBOX.c.attempts)
            .where(OUTBOX.c.next_attempt_at <= now, _free(now), _oldest_of_its_item())
            .order_by(OUTBOX.c.id)
            .limit(limit)
        )
        claimed = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).all():
                won = conn.execute(
                    update(OUTBOX)
                    .where(
                        OUTBOX.c.id == row.id,
                        or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
                    )
                    .values(claimed_until=now + lease)
                ).rowcount
                if won:
                    claimed.append((row.id, row.body, row.attempts))
        return claimed

    def done(self, delivery_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(OUTBOX).where(OUTBOX.c.id == delivery_id))

    def retry(self, delivery_id: int, attempts: int, next_attempt_at: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == delivery_id)
                .values(attempts=attempts, next_attempt_at=next_attempt_at, claimed_until=None)
            )

    def release(self, delivery_ids: Iterable[int]) -> None:
        """Give back claimed deliveries not attempted (the lease would not have covered them)."""
        ids = list(delivery_ids)
        if ids:
            with self.engine.begin() as conn:
                conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(claimed_until=None))

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one()

    def next_due(self) -> dt.datetime | None:
        """When the next delivery that can be claimed falls due (None: nothing to send); an item's later
        deliveries wait for its oldest, so they do not count (the sender would wake for nothing)."""
        now = self.clock()
        query = select(func.min(OUTBOX.c.next_attempt_at)).where(_free(now), _oldest_of_its_item())
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()


def _free(now: dt.datetime):
    """Nobody holds it: never claimed, or its lease has run out."""
    return or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now)


def _oldest_of_its_item():
    """No earlier delivery of the same item is left (whether due, waiting for a retry, or being sent)."""
    earlier = OUTBOX.alias("earlier")
    return ~exists().where(earlier.c.item_id == OUTBOX.c.item_id, earlier.c.id < OUTBOX.c.id)
