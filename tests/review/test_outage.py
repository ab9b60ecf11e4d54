"""A review database that fails costs no classification: answers as without review, a metric, a log line."""

from __future__ import annotations

import time

import postgres_helpers
import review_helpers
from helpers import IMAGES
from prometheus_client import REGISTRY
from review_helpers import bearer

from nsfw.web import current

PNG = (IMAGES / "chelsea.png").read_bytes()
reviewers_file = review_helpers.reviewers_file
killable_postgres = postgres_helpers.killable_postgres


def events(event: str) -> float:
    return REGISTRY.get_sample_value("nsfw_review_events_total", {"event": event}) or 0.0


def classify(client):
    response = client.post("/v1/classify", data=PNG, content_type="image/png")
    assert response.status_code == 200
    return response.get_json()["results"][0]


def test_an_unwritable_sqlite_database_costs_no_classification(make_app, reviewers_file, caplog):
    before = {name: events(name) for name in ("store_error", "lookup_error")}
    client = make_app(
        review="all",
        database_url="sqlite:////proc/nsfw-review/review.db",  # nobody, root included, may create it
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
    )
    for _ in range(3):
        result = classify(client)
        assert (result["verdict"], result["decided_by"]) == ("safe", "model")
    assert client.post("/predict", data=PNG, content_type="image/png").status_code == 200
    current.review_or_none(client.application).flush()
    assert events("store_error") > before["store_error"]  # the migration, then the queueing
    assert events("lookup_error") > before["lookup_error"]
    assert caplog.text.count("classifying without it until it answers") == 1  # one warning per outage
    response = client.get("/v1/review/items", headers=bearer())
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "review_unavailable"


def test_postgresql_stopped_mid_test_costs_no_classification_and_decisions_return_with_it(
    make_app, reviewers_file, killable_postgres
):
    client = make_app(
        review="all",
        database_url=killable_postgres.fresh_url(),
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
    )
    classify(client)
    current.review_or_none(client.application).flush()
    decided = client.post("/v1/review/items/1/decision", json={"decision": "adult"}, headers=bearer())
    assert decided.status_code == 200
    assert classify(client)["decided_by"] == "review"

    killable_postgres.kill()
    for _ in range(3):
        result = classify(client)  # the model's verdict, at once: no error, no hang
        assert (result["verdict"], result["decided_by"]) == ("safe", "model")
    assert client.get("/v1/review/items", headers=bearer()).status_code == 503

    killable_postgres.start()
    deadline = time.monotonic() + 90  # the breaker's pause (1 s, doubling) must end first
    while classify(client)["decided_by"] != "review":
        assert time.monotonic() < deadline, "decisions did not come back with the database"
        time.sleep(0.5)
    assert client.get("/v1/review/items?status=decided", headers=bearer()).status_code == 200
