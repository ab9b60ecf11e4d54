"""PostgreSQL stopped mid-test: a worker goes on matching what it loaded (a reject list keeps refusing), warns
once, and picks up changes again when the database returns."""

from __future__ import annotations

import logging
import time

import postgres_helpers
import pytest
import review_helpers
from images import ORIGINALS
from review_helpers import bearer

pytestmark = pytest.mark.slow
reviewers_file = review_helpers.reviewers_file
killable_postgres = postgres_helpers.killable_postgres


def post(client, data: bytes):
    return client.post("/v1/classify", data=data, content_type="application/octet-stream").get_json()["results"][0]


def test_an_outage_keeps_what_was_loaded(make_app, reviewers_file, killable_postgres, caplog):
    client = make_app(
        review="all",
        database_url=killable_postgres.fresh_url(),
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        match_refresh_s=0.2,
    )
    cat, person = (p.read_bytes() for p in ORIGINALS if p.name in ("chelsea.png", "astronaut_640x480.jpg"))
    listed = post(client, cat)["pdq"]["hash"]
    assert client.put("/v1/lists/takedowns?action=reject", data=listed, headers=bearer()).status_code == 200
    deadline = time.monotonic() + 10
    while post(client, cat).get("error", {}).get("code") != "listed_content":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    caplog.set_level(logging.WARNING, logger="nsfw.review.known")
    killable_postgres.kill()
    time.sleep(1.5)  # several refreshes fail
    assert post(client, cat)["error"]["code"] == "listed_content"  # from memory
    assert post(client, person)["decided_by"] == "model"
    warnings = [r.getMessage() for r in caplog.records if r.name == "nsfw.review.known"]
    assert len(warnings) == 1 and "could not be read" in warnings[0]

    killable_postgres.start()
    deadline = time.monotonic() + 30
    while client.delete("/v1/lists/takedowns", headers=bearer()).status_code != 204:
        assert time.monotonic() < deadline, "the database did not come back"
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while "error" in post(client, cat):
        assert time.monotonic() < deadline, "the removal did not reach the worker"
        time.sleep(0.2)
