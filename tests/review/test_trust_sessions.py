"""Issue 21, item 8: reviewers' page sessions live on the server, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

from review_helpers import database_url, postgres_server, store  # noqa: F401

HOUR = dt.timedelta(hours=1)


def test_a_session_is_found_until_signed_out_expired_or_ended_with_its_reviewers_others(store):  # noqa: F811
    ann = store.sessions.start("ann", "k1", HOUR)
    ann2 = store.sessions.start("ann", "k1", HOUR)
    bob = store.sessions.start("bob", "k2", HOUR)
    assert len({ann, ann2, bob}) == 3 and len(ann) >= 40
    assert store.sessions.find(ann) == ("ann", "k1") and store.sessions.find(bob) == ("bob", "k2")
    assert store.sessions.find("not-a-session") is None and store.sessions.find("x" * 500) is None
    store.sessions.end(ann)
    assert store.sessions.find(ann) is None and store.sessions.find(ann2) == ("ann", "k1")
    assert store.sessions.end_all("ann") == 1
    assert store.sessions.find(ann2) is None and store.sessions.find(bob) == ("bob", "k2")


def test_expired_sessions_are_refused_and_pruned(store):  # noqa: F811
    now = dt.datetime.now(dt.UTC)
    store.sessions.clock = lambda: now
    old = store.sessions.start("ann", "k1", HOUR)
    store.sessions.clock = lambda: now + 2 * HOUR
    assert store.sessions.find(old) is None
    assert store.sessions.prune() == 1
