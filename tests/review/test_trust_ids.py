"""Issue 21, item 10: an item id past the database's integers is a 404, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
import review_helpers
from review_helpers import bearer, database_url, postgres_server, sighting, store  # noqa: F401

from nsfw.errors import ReviewItemNotFound
from nsfw.review import MAX_ITEM_ID

reviewers_file = review_helpers.reviewers_file
HUGE = (2**63, 2**64 + 7, 10**30)


@pytest.mark.parametrize("item_id", HUGE)
def test_the_store_answers_no_such_item_for_ids_past_a_64_bit_integer(store, item_id):  # noqa: F811
    store.record(sighting(1))
    assert store.get(item_id) is None and store.thumbnail(item_id) is None and store.history(item_id) == []
    with pytest.raises(ReviewItemNotFound):
        store.decide(item_id, "adult", "ann")
    with pytest.raises(ReviewItemNotFound):
        store.undecide(item_id, "ann")


@pytest.fixture
def client(make_app, database_url, reviewers_file):  # noqa: F811
    client = make_app(review="all", database_url=database_url, db_auto_migrate=True, reviewers_file=reviewers_file)
    return client


@pytest.mark.parametrize("item_id", HUGE)
def test_the_api_answers_404_for_huge_ids_on_both_databases(client, item_id):
    for method, path, body in (
        ("get", f"/v1/review/items/{item_id}", None),
        ("get", f"/v1/review/items/{item_id}/thumbnail", None),
        ("post", f"/v1/review/items/{item_id}/decision", {"decision": "adult"}),
    ):
        response = getattr(client, method)(path, headers=bearer(), json=body)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert response.get_json()["error"]["code"] in ("review_item_not_found", "not_found")


def test_the_openapi_document_gives_item_ids_their_maximum(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/review/items/{item_id}", "/review/items/{item_id}/decision"):
        method = "get" if "get" in paths[path] else "post"
        (param,) = [p for p in paths[path][method]["parameters"] if p["name"] == "item_id"]
        assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ITEM_ID}
