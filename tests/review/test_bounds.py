"""Issue 21 item 6: the review store is bounded in items and in its SQLite WAL, and keeps no URL secrets."""

from __future__ import annotations

import os
import types

import pytest
import review_helpers
from prometheus_client import REGISTRY
from review_helpers import database_url, postgres_server, sighting, store  # noqa: F401
from sqlalchemy import update

from nsfw.review import schema, writer
from nsfw.review.store import ReviewStore
from nsfw.review.tables import ITEMS
from nsfw.web import current

reviewers_file = review_helpers.reviewers_file
SECRET_URL = "https://user:pass@images.example/cat.jpg?token=s3cr3t&sig=abc#part"


def test_past_the_cap_the_oldest_undecided_items_go_first_and_decided_ones_stay(store):  # noqa: F811
    store.max_items = 5
    for n in range(1, 9):
        store.record(sighting(n), lambda: b"jpeg")
    store.decide(1, "adult", "ann")
    store.decide(4, "safe", "ann")
    store.undecide(4, "ann")  # undone: undecided again, with a history
    store.decide(2, "safe", "bob")
    assert store.cap() == 3
    left = {item.id for item in store.items("pending", limit=50).items} | {i.id for i in store.decided()}
    assert left == {1, 2, 6, 7, 8}
    assert store.thumbnail(3) is None and store.history(4) == [] and store.thumbnail(6) == b"jpeg"
    assert store.cap() == 0
    store.max_items = 1  # only decided items would be left to delete: they stay
    assert store.cap() == 3 and {i.id for i in store.decided()} == {1, 2}


def test_source_urls_are_kept_without_query_fragment_or_user_info(store):  # noqa: F811
    store.record(sighting(1, SECRET_URL))
    store.record(sighting(1, "https://images.example/cat.jpg?token=other"))  # the same URL once stripped
    assert store.get(1).sources == ["https://images.example/cat.jpg"]
    with store.engine.begin() as conn:  # a row written before: shown stripped too
        conn.execute(update(ITEMS).where(ITEMS.c.id == 1).values(sources=[SECRET_URL]))
    assert store.get(1).sources == ["https://images.example/cat.jpg"]
    store.keep_url_queries = True  # NSFW_REVIEW_KEEP_URL_QUERIES=1
    store.record(sighting(2, SECRET_URL))
    assert store.get(2).sources == [SECRET_URL]


def test_a_big_delete_leaves_no_big_wal_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'review.db'}"
    schema.upgrade(url)
    store = ReviewStore(schema.engine(url, timeout=3.0), max_items=10)  # noqa: F811
    wal = tmp_path / "review.db-wal"
    try:
        thumbnail = os.urandom(64 * 1024)
        for n in range(1, 301):
            store.record(sighting(n), lambda: thumbnail)
        assert store.cap() == 290  # one transaction deleting about 19 MB of thumbnails
        store.checkpoint()
        assert wal.stat().st_size <= schema.SQLITE_WAL_LIMIT_BYTES
        for n in range(301, 351):  # and it keeps working afterwards
            store.record(sighting(n), lambda: thumbnail)
        store.checkpoint()
        assert wal.stat().st_size <= schema.SQLITE_WAL_LIMIT_BYTES
    finally:
        store.close()


def events(name: str) -> float:
    return REGISTRY.get_sample_value("nsfw_review_events_total", {"event": name}) or 0.0


def test_the_service_keeps_the_cap_as_it_queues_and_counts_what_it_dropped(
    make_app, tmp_path, reviewers_file, monkeypatch
):
    monkeypatch.setattr(writer, "CAP_EVERY", 1)  # checked after each new item: exact
    client = make_app(
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        review_max_items=3,
    )
    review = current.review_or_none(client.application)
    before = events("capped_items")
    for n in range(1, 11):
        result = types.SimpleNamespace(
            sha256=f"{n:064x}",
            model="mobilenet_v2",
            scores=dict(review_helpers.SCORES),
            width=10,
            height=10,
            match=None,
            pdq=None,
        )
        review.classified(result, f"https://images.example/{n}.jpg?key=secret", None)
        review.flush()
    counts = review.store.counts()
    assert counts["pending"] + counts["decided"] <= 3
    assert events("capped_items") - before == 7
    assert all("?" not in s for item in review.items(limit=10).items for s in item.sources)


@pytest.mark.parametrize("raw, expected", [("", 100_000), ("0", 0), ("5000", 5000)])
def test_the_cap_is_a_setting(raw, expected):
    from nsfw.settings import Settings

    env = {"NSFW_REVIEW_MAX_ITEMS": raw} if raw else {}
    assert Settings.from_env(env).review_max_items == expected
    assert Settings.from_env({"NSFW_REVIEW_KEEP_URL_QUERIES": "1"}).review_keep_url_queries is True
