"""Issue 21, item 9: an undo takes back only the reviewer's own latest decision, on both databases."""

from __future__ import annotations

import pytest
import review_helpers
from review_helpers import bearer, database_url, postgres_server, sighting, store  # noqa: F401

from nsfw.errors import UndoRefused
from nsfw.web import current

reviewers_file = review_helpers.reviewers_file


def test_an_undo_never_wipes_another_reviewers_later_decision(store):  # noqa: F811
    store.record(sighting(1))
    store.decide(1, "adult", "ann")
    store.decide(1, "safe", "bob")
    with pytest.raises(UndoRefused, match="bob decided item 1"):
        store.undecide(1, "ann")
    item = store.get(1)
    assert (item.decision, item.decided_by) == ("safe", "bob")
    assert [(d.decision, d.reviewer) for d in store.history(1)] == [("adult", "ann"), ("safe", "bob")]
    assert store.outbox.pending() == 2  # a refused undo announces nothing
    store.undecide(1, "bob")
    with pytest.raises(UndoRefused, match="pending already"):
        store.undecide(1, "bob")
    assert store.get(1).decision is None


def test_the_api_refuses_an_undo_of_someone_elses_decision(make_app, tmp_path, reviewers_file):
    client = make_app(
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
    )
    review = current.review_or_none(client.application)
    review.store.record(sighting(1))
    url = "/v1/review/items/1/decision"
    assert client.post(url, json={"decision": "adult"}, headers=bearer("ann")).status_code == 200
    assert client.post(url, json={"decision": "safe"}, headers=bearer("bob")).status_code == 200
    refused = client.post(url, json={"decision": None}, headers=bearer("ann"))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "undo_refused"
    assert review.store.get(1).decided_by == "bob"
