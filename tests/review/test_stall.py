"""Issue 21 item 2: a review database that stalls (a held table lock) never stalls a worker.

A real PostgreSQL with ``LOCK TABLE review_items IN ACCESS EXCLUSIVE MODE`` held in another
connection (what a migration or VACUUM FULL does), and a SQLite file with ``BEGIN EXCLUSIVE`` held:
classifications answer within their lookup budget with the model's verdict, the breaker opens,
/predict and /health do not wait, reviewer requests answer 503 inside their statement timeout, and
one worker never holds more connections than its pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time

import psycopg
import pytest
import review_helpers
from helpers import IMAGES
from review_helpers import bearer, postgres_server  # noqa: F401

from nsfw.settings import ConfigError, Settings
from nsfw.web import current

PNG = (IMAGES / "chelsea.png").read_bytes()
SHA = hashlib.sha256(PNG).hexdigest()
reviewers_file = review_helpers.reviewers_file
LOOKUP = 0.2  # NSFW_REVIEW_LOOKUP_TIMEOUT of these tests
DB_TIMEOUT = 1.0  # NSFW_REVIEW_DB_TIMEOUT
POOL = 3
SLACK = 0.5  # the test's own overhead (the classification, the test client, two cores shared)


def app_on(make_app, url, reviewers_file):  # noqa: F811
    client = make_app(
        review="all",
        database_url=url,
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        review_lookup_timeout=LOOKUP,
        review_db_timeout=DB_TIMEOUT,
        review_db_pool=POOL,
    )
    review = current.review_or_none(client.application)
    assert client.post("/v1/classify", data=PNG, content_type="image/png").status_code == 200  # warm, queued
    review.flush()
    review.store.decide(review.store.get_by_sha256(SHA).id, "adult", "ann")
    return client, review


def timed(call):
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def lookups_at_once(review, n: int = 24) -> list[float]:
    """n threads each looking up once, all at the same moment; each one's time."""
    took = [0.0] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        took[i], found = timed(lambda: review.decisions([SHA]))
        assert found in ({}, {SHA: "adult"})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return took


@contextlib.contextmanager
def pg_table_locked(url: str):
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE review_items IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def pg_connections(server, url: str) -> int:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", port=server.port, user=server.USER, dbname="postgres") as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0]


def test_a_locked_postgresql_table_costs_a_request_at_most_its_lookup_budget(
    make_app,
    reviewers_file,
    postgres_server,  # noqa: F811
):
    url = postgres_server.fresh_url()
    client, review = app_on(make_app, url, reviewers_file)
    with pg_table_locked(url):
        took = lookups_at_once(review)
        assert max(took) <= LOOKUP + SLACK, took
        assert review.breaker.open  # slowness opened it: the next requests do not even try
        for _ in range(5):
            elapsed, response = timed(lambda: client.post("/v1/classify", data=PNG, content_type="image/png"))
            result = response.get_json()["results"][0]
            assert response.status_code == 200 and result["decided_by"] == "model"
            assert elapsed <= LOOKUP + 2 * SLACK
        assert timed(lambda: client.get("/health"))[0] < SLACK
        assert timed(lambda: client.post("/predict", data=PNG, content_type="image/png"))[0] < 2 * SLACK
        elapsed, listing = timed(lambda: client.get("/v1/review/items", headers=bearer()))
        assert listing.status_code == 503 and listing.get_json()["error"]["code"] == "review_unavailable"
        assert elapsed <= 2 * DB_TIMEOUT + SLACK  # a pooled connection's wait, then the statement timeout
        # one worker's connections: its lookup pool and its engine's pool, never one per thread
        assert pg_connections(postgres_server, url) <= 2 * POOL + 1  # + the connection holding the lock
    deadline = time.monotonic() + 35  # the breaker's longest pause
    while (
        client.post("/v1/classify", data=PNG, content_type="image/png").get_json()["results"][0]["decided_by"]
        != "review"
    ):
        assert time.monotonic() < deadline, "the decisions did not come back with the database"
        time.sleep(0.2)


def test_a_held_sqlite_write_lock_never_blocks_a_request_past_its_budget(make_app, reviewers_file, tmp_path):
    path = tmp_path / "review.db"
    client, review = app_on(make_app, f"sqlite:///{path}", reviewers_file)
    item = review.store.get_by_sha256(SHA).id

    def decided():
        return client.post(f"/v1/review/items/{item}/decision", json={"decision": "safe"}, headers=bearer())

    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        took = lookups_at_once(review)
        assert max(took) <= LOOKUP + SLACK, took
        elapsed, response = timed(lambda: client.post("/v1/classify", data=PNG, content_type="image/png"))
        assert response.status_code == 200 and elapsed <= LOOKUP + 2 * SLACK
        elapsed, response = timed(decided)
        assert response.status_code == 503 and elapsed <= 2 * DB_TIMEOUT + SLACK
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    time.sleep(1.1)  # the breaker's first pause
    assert decided().status_code == 200


@pytest.mark.parametrize(
    "env", [{"NSFW_REVIEW_DB_TIMEOUT": "8"}, {"NSFW_REVIEW_DB_POOL": "0"}, {"NSFW_REVIEW_LOOKUP_TIMEOUT": "30"}]
)
def test_the_bounds_are_checked_at_start_up(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)
