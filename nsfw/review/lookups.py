"""The decision lookup every classification makes when review is on, at the cost of a cache lookup.

Through SQLAlchemy's pool a lookup cost 469 µs on SQLite and 921 µs on PostgreSQL, more than the
Redis result cache; one prepared statement on DBAPI connections kept for it costs 15 and 179 µs
(``bench/review.py``). The table is ``review_items`` (``tables.py``).

A lookup never costs a request more than its budget (NSFW_REVIEW_LOOKUP_TIMEOUT), however the
database is doing: half of it at most waiting for one of the pool's connections (there are never
more: a stalled database once made one worker open 36), half running the query, cut there by
PostgreSQL's ``statement_timeout`` or, on SQLite, by the busy timeout and a progress handler.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from nsfw.review import schema


class LookupBusy(OperationalError):
    """Every connection of the pool stayed busy for half the budget: the database is slow."""

    def __init__(self, waited: float):
        super().__init__(f"no lookup connection came free in {waited * 1000:.0f} ms", None, TimeoutError())


class DecisionLookups:
    """At most ``size`` DBAPI connections for ``decisions``, reused LIFO; one that fails is closed.

    Autocommit (PostgreSQL) and reading every row (SQLite) end each read where it is made, so no
    connection holds a snapshot: a decision made anywhere is seen by the next lookup.
    """

    def __init__(self, engine: Engine, budget: float = 0.25, size: int = 4):
        self.engine = engine
        self.budget = budget
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[Any] = []  # DBAPI connections: sqlite3's or psycopg's
        self._lock = threading.Lock()
        self._sqlite = engine.dialect.name == "sqlite"
        mark = "?" if self._sqlite else "%s"
        self._one = f"SELECT sha256, decision FROM review_items WHERE sha256 = {mark} AND decision IS NOT NULL"

    def decisions(self, wanted: list[str]) -> dict[str, str]:
        if not self._slots.acquire(timeout=self.budget / 2):
            raise LookupBusy(self.budget / 2)
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            try:
                found = self._query(conn, wanted)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            with self._lock:
                self._idle.append(conn)
            return found
        finally:
            self._slots.release()

    def _query(self, conn: Any, wanted: list[str]) -> dict[str, str]:
        if self._sqlite:  # SQLite has no statement timeout: a progress handler ends the query at the deadline
            deadline = time.monotonic() + self.budget / 2
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        cursor = conn.cursor()
        try:
            if len(wanted) == 1:
                cursor.execute(self._one, (wanted[0],))
            else:
                marks = ", ".join(("?" if self._sqlite else "%s") for _ in wanted)
                cursor.execute(
                    f"SELECT sha256, decision FROM review_items WHERE sha256 IN ({marks}) AND decision IS NOT NULL",
                    tuple(wanted),
                )
            return dict(cursor.fetchall())
        finally:
            cursor.close()

    def _connect(self) -> Any:
        """A DBAPI connection of the engine's driver (sqlite3 or psycopg: their types share no protocol)."""
        dialect = self.engine.dialect
        cargs, cparams = dialect.create_connect_args(self.engine.url)
        cparams.update(schema.connect_args(self.engine.url.get_backend_name(), self.budget / 2))
        path = schema.sqlite_file(self.engine.url.render_as_string(hide_password=False)) if self._sqlite else None
        conn: Any
        try:
            if path is not None:  # as the engine's: an existing file only, never a new empty one
                conn = schema.open_existing(path, self.budget / 2)
            else:
                conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.Error as exc:
            raise OperationalError("connecting for a decision lookup", None, exc) from exc
        if not self._sqlite:
            conn.autocommit = True
        return conn

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()
