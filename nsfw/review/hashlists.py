"""Operators' hash lists in the review database: import whole or not at all, export, list, remove.

Every change raises the ``lists`` row of ``known_versions`` in its own transaction, which is how each
worker's matcher (``known.KnownContent``) learns, within NSFW_MATCH_REFRESH_S, that it must reload.
Entries go in with the driver's ``executemany`` (SQLite) or ``COPY`` (PostgreSQL): 1,000,000 hashes
in seconds (``bench/hash_lists.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from nsfw.errors import HashListNotFound
from nsfw.known.hashes import Entry, check_action, check_name
from nsfw.known.index import DEFAULT, codes_from_hex
from nsfw.review.tables import ENTRIES, LISTS, VERSIONS


@dataclasses.dataclass(frozen=True)
class ListInfo:
    name: str
    action: str
    count: int
    updated_at: dt.datetime

    def to_dict(self) -> dict:
        at = self.updated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return {"name": self.name, "action": self.action, "count": self.count, "updated_at": at}


class Loaded(NamedTuple):
    """A kind of list as a matcher indexes it: one row an entry."""

    codes: np.ndarray  # (N, 32) uint8: the hashes
    radii: np.ndarray  # (N,) uint8: each entry's own distance, or index.DEFAULT
    names: list[str]  # the lists' names
    labels: np.ndarray  # (N,): each entry's list, a position in names


def bump(conn: Connection, name: str) -> None:
    """Raise ``known_versions[name]`` in the caller's transaction."""
    conn.execute(update(VERSIONS).where(VERSIONS.c.name == name).values(version=VERSIONS.c.version + 1))


def versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(VERSIONS.c.name, VERSIONS.c.version)).all()
        return {row[0]: row[1] for row in rows}


class HashLists:
    def __init__(self, engine: Engine):
        self.engine = engine

    def replace(self, name: str, action: str, entries: list[Entry]) -> ListInfo:
        """Create list ``name`` or replace its action and every entry, in one transaction."""
        check_name(name)
        check_action(action)
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            list_id = conn.execute(select(LISTS.c.id).where(LISTS.c.name == name)).scalar()
            if list_id is None:
                list_id = conn.execute(
                    insert(LISTS).values(name=name, action=action, updated_at=now).returning(LISTS.c.id)
                ).scalar_one()
            else:
                conn.execute(update(LISTS).where(LISTS.c.id == list_id).values(action=action, updated_at=now))
                conn.execute(delete(ENTRIES).where(ENTRIES.c.list_id == list_id))
            _insert(conn, list_id, entries)
            bump(conn, "lists")
        return ListInfo(name, action, len(entries), now)

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            list_id = conn.execute(select(LISTS.c.id).where(LISTS.c.name == name)).scalar()
            if list_id is None:
                raise HashListNotFound(f"no hash list is named {name!r}")
            conn.execute(delete(ENTRIES).where(ENTRIES.c.list_id == list_id))
            conn.execute(delete(LISTS).where(LISTS.c.id == list_id))
            bump(conn, "lists")

    def lists(self) -> list[ListInfo]:
        counts = select(ENTRIES.c.list_id, func.count().label("n")).group_by(ENTRIES.c.list_id).subquery()
        query = (
            select(LISTS.c.name, LISTS.c.action, func.coalesce(counts.c.n, 0), LISTS.c.updated_at)
            .select_from(LISTS.outerjoin(counts, counts.c.list_id == LISTS.c.id))
            .order_by(LISTS.c.name)
        )
        with self.engine.connect() as conn:
            return [ListInfo(*row) for row in conn.execute(query)]

    def actions(self) -> dict[str, str]:
        """Every list's name and action."""
        with self.engine.connect() as conn:
            return dict(conn.execute(select(LISTS.c.name, LISTS.c.action)).all())

    def get(self, name: str) -> ListInfo:
        for info in self.lists():
            if info.name == name:
                return info
        raise HashListNotFound(f"no hash list is named {name!r}")

    def entries(self, name: str, batch: int = 10000) -> Iterator[Entry]:
        """Every entry of list ``name``, in import order, read a batch at a time."""
        with self.engine.connect() as conn:
            list_id = conn.execute(select(LISTS.c.id).where(LISTS.c.name == name)).scalar()
        if list_id is None:
            raise HashListNotFound(f"no hash list is named {name!r}")
        last = 0
        columns = (ENTRIES.c.id, ENTRIES.c.pdq, ENTRIES.c.distance, ENTRIES.c.quality)
        while True:
            query = select(*columns).where(ENTRIES.c.list_id == list_id, ENTRIES.c.id > last)
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(ENTRIES.c.id).limit(batch)).all()
            for row in rows:
                yield Entry(row.pdq, row.distance, row.quality)
            if len(rows) < batch:
                return
            last = rows[-1].id

    def loaded(self, reject: bool, min_quality: int, batch: int = 65536) -> Loaded:
        """What a matcher loads of the ``reject`` lists (or of the others): every entry's hash as 32 bytes,
        its own distance (``index.DEFAULT`` when none), and its list as a position in ``names``.

        Through the driver, one query, no ORM rows, turned into arrays a batch at a time, so a million
        entries load in about a second and never exist as a million Python strings at once."""
        where = "l.action = 'reject'" if reject else "l.action <> 'reject'"
        query = (
            f"SELECT e.list_id, e.pdq, COALESCE(e.distance, {DEFAULT}) FROM hash_list_entries e "
            f"JOIN hash_lists l ON l.id = e.list_id WHERE {where} AND COALESCE(e.quality, 100) >= {int(min_quality)}"
        )
        codes, radii, ids = [], [], []
        with self.engine.connect() as conn:
            names = dict(conn.execute(select(LISTS.c.id, LISTS.c.name)).all())
            cursor = conn.exec_driver_sql(query).cursor
            while rows := cursor.fetchmany(batch):
                list_ids, hexes, own = zip(*rows, strict=True)
                codes.append(codes_from_hex(list(hexes)))
                radii.append(np.array(own, dtype=np.uint8))
                ids.append(np.array(list_ids, dtype=np.int64))
        if not codes:
            return Loaded(codes_from_hex([]), np.zeros(0, np.uint8), [], np.zeros(0, np.int64))
        unique, labels = np.unique(np.concatenate(ids), return_inverse=True)
        return Loaded(np.concatenate(codes), np.concatenate(radii), [names[i] for i in unique.tolist()], labels)


def _insert(conn: Connection, list_id: int, entries: list[Entry]) -> None:
    """The driver's fastest bulk insert: PostgreSQL's COPY, SQLite's executemany."""
    raw: Any = conn.connection.driver_connection  # sqlite3's or psycopg's connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            with cursor.copy("COPY hash_list_entries (list_id, pdq, distance, quality) FROM STDIN") as copy:
                for entry in entries:
                    copy.write_row((list_id, entry.pdq, entry.distance, entry.quality))
        return
    cursor = raw.cursor()
    try:
        cursor.executemany(
            "INSERT INTO hash_list_entries (list_id, pdq, distance, quality) VALUES (?, ?, ?, ?)",
            ((list_id, entry.pdq, entry.distance, entry.quality) for entry in entries),
        )
    finally:
        cursor.close()
