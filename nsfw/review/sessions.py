"""Reviewers' page sessions on the server: a sign-out, or a reviewer leaving the file, ends them everywhere.

The signed cookie alone cannot be taken back: a copy saved before sign-out would work until it
expires. So the cookie also holds a random secret, and ``review_sessions`` holds its sha256 (a
stolen database gives no usable cookie), the reviewer, which of their tokens signed in, and when
the session ends. Every page request looks the row up by its key; a sign-out deletes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from nsfw.review.tables import SESSIONS


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


class Sessions:
    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]):
        self.engine = engine
        self.clock = clock

    def start(self, reviewer: str, key: str, lifetime: dt.timedelta) -> str:
        """A new session of ``reviewer`` (signed in with the token ``key`` names); the secret for the cookie."""
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        row = {"id": _key(secret), "reviewer": reviewer, "key": key, "created_at": now, "expires_at": now + lifetime}
        with self.engine.begin() as conn:
            conn.execute(insert(SESSIONS).values(**row))
        return secret

    def find(self, secret: str) -> tuple[str, str] | None:
        """``(reviewer, key)`` of a live session, or None (signed out, revoked, expired, never made)."""
        if not secret or len(secret) > 128:
            return None
        query = select(SESSIONS.c.reviewer, SESSIONS.c.key, SESSIONS.c.expires_at).where(SESSIONS.c.id == _key(secret))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= self.clock():
            return None
        return row.reviewer, row.key

    def end(self, secret: str) -> None:
        """Sign-out: the session is gone for every copy of its cookie."""
        with self.engine.begin() as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.id == _key(secret)))

    def end_all(self, reviewer: str) -> int:
        """Every session of ``reviewer`` (removed from the file, or their token changed); how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(SESSIONS).where(SESSIONS.c.reviewer == reviewer)).rowcount

    def prune(self) -> int:
        """Delete expired sessions (retention's round)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at <= self.clock())).rowcount
