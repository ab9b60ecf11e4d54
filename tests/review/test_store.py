"""The review store on SQLite and on a real PostgreSQL: queueing, pages, decisions, retention, migrations."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import review_helpers
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from review_helpers import sighting
from sqlalchemy import inspect

from nsfw.errors import InvalidCursor, InvalidDecision, InvalidReviewQuery, ReviewItemNotFound
from nsfw.review import schema
from nsfw.review.store import ReviewStore
from nsfw.review.tables import Base

# fixtures: an empty database on SQLite and on this module's PostgreSQL server, a migrated store on it
postgres_server = review_helpers.postgres_server
database_url = review_helpers.database_url
store = review_helpers.store


def test_migrations_upgrade_an_empty_database_to_the_tables_the_code_uses(database_url):
    assert schema.current(database_url) is None
    schema.upgrade(database_url)
    schema.upgrade(database_url)  # a second run (every worker at start-up) changes nothing
    script = ScriptDirectory.from_config(schema.alembic_config(database_url))
    assert schema.current(database_url) == script.get_current_head()
    chain = [revision.revision for revision in script.walk_revisions()][::-1]  # one line, oldest first
    assert chain[:3] == ["0001", "0002", "0003"]
    engine = schema.engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": "review_alembic_version"})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"review_items", "review_thumbnails", "review_decisions", "review_webhook_outbox"} <= tables
    assert {"hash_lists", "hash_list_entries", "known_versions"} <= tables


def test_an_image_is_queued_once_however_often_it_is_seen(store):
    thumbnails = []

    def thumbnail():
        thumbnails.append(1)
        return b"jpeg"

    assert store.record(sighting(1, "http://a.example/1.jpg"), thumbnail) is True
    for _ in range(4):
        assert store.record(sighting(1, "http://a.example/1.jpg"), thumbnail) is False
    page = store.items()
    assert len(page.items) == 1
    item = page.items[0]
    assert item.seen_count == 5 and item.sources == ["http://a.example/1.jpg"]
    assert item.has_thumbnail and store.thumbnail(item.id) == b"jpeg"
    assert len(thumbnails) == 1  # made for the new item only
    assert item.first_seen <= item.last_seen


def test_sources_are_kept_once_each_and_capped(store):
    for n in range(6):
        store.record(sighting(1, f"http://a.example/{n}.jpg"))
    store.record(sighting(1, None))  # an upload adds a view, no source
    (item,) = store.items().items
    assert item.seen_count == 7
    assert item.sources == [f"http://a.example/{n}.jpg" for n in range(3)]  # max_sources=3


def test_concurrent_sightings_of_a_new_image_make_one_item(store):
    with ThreadPoolExecutor(8) as pool:
        new = list(pool.map(lambda n: store.record(sighting(7, f"http://a.example/{n % 2}")), range(40)))
    assert new.count(True) == 1
    (item,) = store.items().items
    assert item.seen_count == 40
    assert sorted(item.sources) == ["http://a.example/0", "http://a.example/1"]


def test_pages_follow_the_keyset_cursor_oldest_and_most_seen_first(store):
    for n in range(1, 8):
        for _ in range(n % 3 + 1):
            store.record(sighting(n))
    seen, cursor = [], None
    while True:
        page = store.items(cursor=cursor, limit=3)
        seen += [item.sha256 for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"{n:064x}" for n in range(1, 8)]

    ordered, cursor = [], None
    while True:
        page = store.items(order="most_seen", cursor=cursor, limit=2)
        ordered += [(item.seen_count, item.id) for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert ordered == sorted(ordered, key=lambda key: (-key[0], key[1])) and len(ordered) == 7


def test_a_decided_item_leaves_pending_and_the_cursor_still_continues(store):
    for n in range(1, 6):
        store.record(sighting(n))
    first = store.items(limit=2)
    store.decide(first.items[0].id, "adult", "ann")
    store.decide(4, "safe", "ann")  # one not yet paged through
    rest = store.items(cursor=first.next_cursor, limit=10)
    assert [item.id for item in rest.items] == [3, 5]
    decided = store.items(status="decided")
    assert [(item.id, item.decision) for item in decided.items] == [(1, "adult"), (4, "safe")]


@pytest.mark.parametrize(
    "cursor", ["", "not base64!", "e30", "eyJzIjoiZGVjaWRlZCIsIm8iOiJvbGRlc3QiLCJrIjpbMV19", "W10", "eyJrIjpbLTFdfQ"]
)
def test_a_cursor_not_given_out_for_this_status_and_order_is_refused(store, cursor):
    with pytest.raises(InvalidCursor):
        store.items(cursor=cursor or "x")


def test_a_cursor_of_another_order_is_refused(store):
    for n in range(3):
        store.record(sighting(n))
    cursor = store.items(limit=1).next_cursor
    with pytest.raises(InvalidCursor):
        store.items(order="most_seen", cursor=cursor)


@pytest.mark.parametrize("query", [{"status": "all"}, {"order": "newest"}, {"limit": 0}, {"limit": 201}])
def test_bad_listing_parameters_are_refused(store, query):
    with pytest.raises(InvalidReviewQuery):
        store.items(**query)


def test_decisions_are_recorded_with_who_and_when_changed_and_undone_with_history(store):
    store.record(sighting(1))
    item = store.decide(1, "adult", "ann")
    assert (item.decision, item.decided_by) == ("adult", "ann") and item.decided_at is not None
    assert store.decisions([f"{1:064x}", f"{2:064x}"]) == {f"{1:064x}": "adult"}
    store.decide(1, "safe", "bob")
    store.undecide(1, "bob")
    assert store.get(1).decision is None and store.decisions([f"{1:064x}"]) == {}
    history = store.history(1)
    assert [(d.decision, d.reviewer) for d in history] == [("adult", "ann"), ("safe", "bob"), (None, "bob")]
    assert history[0].decided_at <= history[-1].decided_at
    assert store.outbox.pending() == 3  # one webhook delivery per decision and undo


def test_bad_decisions_and_unknown_items_are_refused(store):
    store.record(sighting(1))
    with pytest.raises(InvalidDecision):
        store.decide(1, "maybe", "ann")
    with pytest.raises(ReviewItemNotFound):
        store.decide(99, "adult", "ann")
    with pytest.raises(ReviewItemNotFound):
        store.undecide(99, "ann")
    assert store.get(99) is None and store.thumbnail(99) is None and store.history(1) == []


def test_decided_yields_every_decided_item_in_batches(store):
    for n in range(1, 8):
        store.record(sighting(n))
        if n % 2:
            store.decide(n, "adult", "ann")
    assert [item.id for item in store.decided(batch=2)] == [1, 3, 5, 7]
    assert store.counts() == {"pending": 3, "decided": 4}


def test_decided_scores_reads_what_decided_reads_for_calibration(store):
    for n in range(1, 8):
        store.record(sighting(n))
        if n % 3:
            store.decide(n, "safe" if n % 2 else "adult", "ann")
    whole = [(item.scores, item.decision, item.verdict) for item in store.decided()]
    assert list(store.decided_scores(batch=2)) == whole
    assert len(whole) == 5


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self):
        return self.now


@pytest.mark.parametrize("keep_decided_thumbnails", [False, True])
def test_retention_deletes_old_thumbnails_and_pending_items_and_keeps_decisions(database_url, keep_decided_thumbnails):
    schema.upgrade(database_url)
    clock = Clock()
    store = ReviewStore(
        schema.engine(database_url),
        retention_days=30,
        keep_decided_thumbnails=keep_decided_thumbnails,
        clock=clock,
    )
    try:
        store.record(sighting(1), lambda: b"old pending")
        store.record(sighting(2), lambda: b"old decided")
        store.decide(2, "adult", "ann")
        store.record(sighting(3), lambda: b"old, undone")
        store.decide(3, "adult", "ann")
        store.undecide(3, "ann")
        clock.now += dt.timedelta(days=20)
        store.record(sighting(4), lambda: b"recent")
        store.record(sighting(1))  # seen again: retention counts from when it was queued

        assert store.prune(clock.now) == store.prune(clock.now)  # nothing is old yet: both delete nothing
        clock.now += dt.timedelta(days=15)
        pruned = store.prune()
        assert pruned.items == 2
        assert pruned.thumbnails == (2 if keep_decided_thumbnails else 3)
        assert store.get(1) is None and store.get(3) is None
        kept = store.get(2)
        assert (kept.sha256, kept.decision, kept.decided_by) == (f"{2:064x}", "adult", "ann")
        assert kept.has_thumbnail is keep_decided_thumbnails
        assert store.decisions([f"{2:064x}"]) == {f"{2:064x}": "adult"}  # still remembered
        assert store.get(4).has_thumbnail and store.thumbnail(4) == b"recent"
        assert store.prune().items == 0
    finally:
        store.close()
