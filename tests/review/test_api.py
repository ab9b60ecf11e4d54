"""The review loop through the HTTP API (SQLite): queue, decide, and the next classification remembers."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import jsonschema
import pytest
import review_helpers
from helpers import IMAGES
from PIL import Image
from review_helpers import TOKENS, bearer

from nsfw.protect.keys import line_for
from nsfw.web import current

reviewers_file = review_helpers.reviewers_file  # a fixture: ann's and bob's tokens

PNG = (IMAGES / "chelsea.png").read_bytes()  # safe at the default thresholds (nsfw 0.068)
JPEG = (IMAGES / "astronaut_640x480.jpg").read_bytes()


@pytest.fixture
def review_app(make_app, tmp_path, reviewers_file):
    """make(**changes): a test client with the review queue on (all images) in its own SQLite file."""

    def make(**changes):
        options = {
            "review": "all",
            "database_url": f"sqlite:///{tmp_path / 'review.db'}",
            "db_auto_migrate": True,
            "reviewers_file": reviewers_file,
            **changes,
        }
        return make_app(**options)

    return make


def flushed(client):
    current.review_or_none(client.application).flush()
    return client


def classify(client, data=PNG):
    response = client.post("/v1/classify", data=data, content_type="image/png")
    assert response.status_code == 200
    return response.get_json()["results"][0]


def only_item(client, **query):
    response = flushed(client).get("/v1/review/items", query_string=query, headers=bearer())
    assert response.status_code == 200
    (item,) = response.get_json()["items"]
    return item


def test_the_loop_queue_decide_remember(review_app):
    client = review_app()
    first = classify(client)
    assert (first["verdict"], first["decided_by"]) == ("safe", "model")
    item = only_item(client)
    assert item["sha256"] == hashlib.sha256(PNG).hexdigest() and item["seen_count"] == 1
    assert item["scores"] == first["scores"] and item["verdict"] == "safe" and item["decision"] is None

    thumb = client.get(f"/v1/review/items/{item['id']}/thumbnail", headers=bearer())
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.data)).size == (160, 106)  # chelsea is 451 x 300

    decided = client.post(f"/v1/review/items/{item['id']}/decision", json={"decision": "adult"}, headers=bearer())
    assert decided.status_code == 200
    body = decided.get_json()
    assert (body["decision"], body["decided_by"]) == ("adult", "ann")
    assert [h["decision"] for h in body["history"]] == ["adult"]

    again = classify(client)
    assert again["cached"] is True  # the cached result does not hide the decision
    assert (again["verdict"], again["decided_by"]) == ("adult", "review")
    assert again["scores"] == first["scores"] and again["nsfw"] == first["nsfw"]
    # /predict's contract is the five scores, unchanged
    assert client.post("/predict", data=PNG, content_type="image/png").get_json() == first["scores"]
    assert only_item(client, status="decided")["seen_count"] == 3


def test_a_batch_carries_each_images_own_verdict(review_app):
    client = review_app()
    classify(client, PNG)
    classify(client, JPEG)
    flushed(client)
    page = client.get("/v1/review/items", headers=bearer()).get_json()
    png_id = next(i["id"] for i in page["items"] if i["sha256"] == hashlib.sha256(PNG).hexdigest())
    client.post(f"/v1/review/items/{png_id}/decision", json={"decision": "adult"}, headers=bearer())
    data = {"image": [(io.BytesIO(PNG), "a.png"), (io.BytesIO(JPEG), "b.jpg")]}
    results = client.post("/v1/classify", data=data, content_type="multipart/form-data").get_json()["results"]
    assert [(r["verdict"], r["decided_by"]) for r in results] == [("adult", "review"), ("safe", "model")]


def test_urls_are_kept_as_sources(review_app, httpserver):
    httpserver.expect_request("/cat.png").respond_with_data(PNG, content_type="image/png")
    url = httpserver.url_for("/cat.png")
    client = review_app(cache_size=0)
    client.post("/v1/classify", json={"url": url})
    client.post("/predict", query_string={"url": url})
    item = only_item(client)
    assert item["sources"] == [url] and item["seen_count"] == 2


def test_unknown_mode_queues_only_unknown_verdicts(review_app):
    client = review_app(review="unknown")
    classify(client, PNG)  # safe: not queued
    assert flushed(client).get("/v1/review/items", headers=bearer()).get_json()["items"] == []
    client = review_app(review="unknown", safe_threshold=0.01, adult_threshold=0.99)
    classify(client, PNG)  # nsfw 0.068: unknown now
    assert only_item(client)["verdict"] == "unknown"


def test_decisions_can_be_changed_and_undone_with_history(review_app):
    client = review_app()
    classify(client)
    item_id = only_item(client)["id"]
    url = f"/v1/review/items/{item_id}/decision"
    client.post(url, json={"decision": "adult"}, headers=bearer("ann"))
    client.post(url, json={"decision": "safe"}, headers=bearer("bob"))
    assert classify(client)["verdict"] == "safe"
    undone = client.post(url, json={"decision": None}, headers=bearer("bob")).get_json()
    assert undone["decision"] is None and undone["decided_by"] is None
    assert classify(client)["decided_by"] == "model"
    history = client.get(f"/v1/review/items/{item_id}", headers=bearer()).get_json()["history"]
    assert [(h["decision"], h["reviewer"]) for h in history] == [("adult", "ann"), ("safe", "bob"), (None, "bob")]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKENS['ann']}"}, {"X-API-Key": TOKENS["ann"]}],
)
def test_without_a_reviewer_token_every_route_answers_401(review_app, headers):
    client = review_app()
    for method, path in [
        ("get", "/v1/review/items"),
        ("get", "/v1/review/items/1"),
        ("get", "/v1/review/items/1/thumbnail"),
        ("post", "/v1/review/items/1/decision"),
        ("get", "/v1/review/export"),
    ]:
        response = getattr(client, method)(path, headers=headers, json={"decision": "adult"})
        assert response.status_code == 401, path
        assert response.get_json()["error"]["code"] == "not_reviewer"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_review_routes_need_no_api_key_and_classification_still_does(review_app, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(line_for("client", "client-key-0123456789") + "\n")
    client = review_app(api_keys_file=str(keys))
    assert client.get("/v1/review/items", headers=bearer()).status_code == 200
    assert client.post("/v1/classify", data=PNG, content_type="image/png").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/v1/review/items?status=everything", None, 400, "invalid_review_query"),
        ("get", "/v1/review/items?order=newest", None, 400, "invalid_review_query"),
        ("get", "/v1/review/items?limit=lots", None, 400, "invalid_review_query"),
        ("get", "/v1/review/items?limit=0", None, 400, "invalid_review_query"),
        ("get", "/v1/review/items?cursor=bm90IG91cnM", None, 400, "invalid_cursor"),
        ("get", "/v1/review/items/999", None, 404, "review_item_not_found"),
        ("get", "/v1/review/items/999/thumbnail", None, 404, "review_item_not_found"),
        ("post", "/v1/review/items/999/decision", {"decision": "adult"}, 404, "review_item_not_found"),
        ("post", "/v1/review/items/1/decision", {"decision": "maybe"}, 400, "invalid_decision"),
        ("post", "/v1/review/items/1/decision", {"decision": 1}, 400, "invalid_decision"),
        ("post", "/v1/review/items/1/decision", {"verdict": "adult"}, 400, "invalid_request"),
        ("post", "/v1/review/items/1/decision", ["adult"], 400, "invalid_request"),
        ("get", "/v1/review/export?format=xml", None, 400, "invalid_review_query"),
    ],
)
def test_bad_requests_get_json_errors_with_stable_codes(review_app, method, path, body, status, code):
    client = review_app()
    classify(client)
    flushed(client)
    response = getattr(client, method)(path, headers=bearer(), json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_with_review_off_nothing_is_queued_or_looked_up_and_the_routes_answer_404(make_app):
    client = make_app()
    assert current.review_or_none(client.application) is None
    assert "nsfw_review" not in client.application.extensions
    assert "decided_by" not in classify(client)
    response = client.get("/v1/review/items", headers=bearer())
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "review_disabled"


def test_export_in_csv_and_jsonl(review_app):
    client = review_app()
    classify(client, PNG)
    classify(client, JPEG)
    items = flushed(client).get("/v1/review/items", headers=bearer()).get_json()["items"]
    client.post(f"/v1/review/items/{items[0]['id']}/decision", json={"decision": "adult"}, headers=bearer())

    jsonl = client.get("/v1/review/export?format=jsonl", headers=bearer())
    assert jsonl.status_code == 200 and jsonl.mimetype == "application/x-ndjson"
    (row,) = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert (row["id"], row["decision"], row["decided_by"], row["verdict"]) == (items[0]["id"], "adult", "ann", "safe")
    assert row["porn"] == items[0]["scores"]["porn"] and row["sha256"] == items[0]["sha256"]

    text = client.get("/v1/review/export?format=csv", headers=bearer())
    assert text.mimetype == "text/csv" and "attachment" in text.headers["Content-Disposition"]
    (csv_row,) = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
    assert csv_row["sha256"] == row["sha256"] and csv_row["decision"] == "adult"
    assert float(csv_row["nsfw"]) == pytest.approx(row["nsfw"])


def test_answers_keep_to_the_openapi_schemas(review_app):
    client = review_app()
    document = client.get("/openapi.json").get_json()

    def valid(instance, name):
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)

    valid(client.post("/v1/classify", data=PNG, content_type="image/png").get_json(), "ClassifyResponse")
    page = flushed(client).get("/v1/review/items", headers=bearer()).get_json()
    valid(page, "ReviewPage")
    item_id = page["items"][0]["id"]
    valid(client.get(f"/v1/review/items/{item_id}", headers=bearer()).get_json(), "ReviewItemWithHistory")
    url = f"/v1/review/items/{item_id}/decision"
    valid(client.post(url, json={"decision": "safe"}, headers=bearer()).get_json(), "ReviewItemWithHistory")
    valid(client.post(url, json={"decision": None}, headers=bearer()).get_json(), "ReviewItemWithHistory")
    valid(client.post("/v1/classify", data=PNG, content_type="image/png").get_json(), "ClassifyResponse")


def test_the_openapi_document_describes_the_review_routes(review_app):
    document = review_app().get("/openapi.json").get_json()
    paths = document["paths"]
    for path in ("/v1/review/items", "/v1/review/items/{item_id}", "/v1/review/export"):
        assert paths[path]["get"]["security"] == [{"reviewer": []}]
    decision = paths["/v1/review/items/{item_id}/decision"]["post"]
    assert set(decision["responses"]) >= {"200", "400", "401", "404", "503"}
    assert "not_reviewer" in json.dumps(decision["responses"]["401"])
    assert "decided_by" in document["components"]["schemas"]["Classification"]["properties"]
