"""The decision lookup every classification makes when review is on, at the cost of a cache lookup.

Through SQLAlchemy's pool a lookup cost 469 µs on SQLite and 921 µs on PostgreSQL, more than the
Redis result cache; one prepared statement on DBAPI connections kept for it costs 15 and 179 µs
(``bench/review.py``). The table is ``review_items`` (``tables.py``).
"""

from __future__ import annotations

import contextlib
import threading

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from nsfw.review import schema


class DecisionLookups:
    """DBAPI connections for ``decisions``, reused LIFO; one that fails is closed, never reused.

    Autocommit (PostgreSQL) and reading every row (SQLite) end each read where it is made, so no
    connection holds a snapshot: a decision made anywhere is seen by the next lookup.
    """

    IDLE = 8  # connections kept between lookups; more at once are opened and closed

    def __init__(self, engine: Engine):
        self.engine = engine
        self._idle: list = []
        self._lock = threading.Lock()
        self._sqlite = engine.dialect.name == "sqlite"
        mark = "?" if self._sqlite else "%s"
        self._one = f"SELECT sha256, decision FROM review_items WHERE sha256 = {mark} AND decision IS NOT NULL"

    def decisions(self, wanted: list[str]) -> dict[str, str]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
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
                found = dict(cursor.fetchall())
            finally:
                cursor.close()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        with self._lock:
            if len(self._idle) < self.IDLE:
                self._idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()
        return found

    def _connect(self):
        dialect = self.engine.dialect
        cargs, cparams = dialect.create_connect_args(self.engine.url)
        cparams.update(schema.connect_args(self.engine.url.get_backend_name()))
        try:
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
