"""Known content through the service: decisions follow near-duplicates, lists decide or refuse, precedence,
changes reach a running service. Real images made by the tests; SQLite (the PostgreSQL path of the same
store is in test_known_store.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
import review_helpers
from images import ORIGINALS, variants
from review_helpers import bearer

from nsfw.web import current

reviewers_file = review_helpers.reviewers_file
MAX_DISTANCE = 31


@pytest.fixture
def service(make_app, tmp_path, reviewers_file):
    """A test client with the review queue on (every image) and known content refreshed every 0.2 s."""
    return make_app(
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        match_refresh_s=0.2,
    )


def upload(client, data: bytes) -> dict:
    response = client.post("/v1/classify", data=data, content_type="application/octet-stream")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"][0]


def settle(client) -> None:
    """The sightings written and every matcher reloaded (what NSFW_MATCH_REFRESH_S does within 0.2 s)."""
    review = current.review_or_none(client.application)
    review.flush()
    review.known.refresh()


def item_of(client, sha256: str):
    return current.review_or_none(client.application).store.get_by_sha256(sha256)


def decide(client, item_id: int, decision: str) -> None:
    answer = client.post(f"/v1/review/items/{item_id}/decision", json={"decision": decision}, headers=bearer())
    assert answer.status_code == 200


def test_near_duplicates_follow_a_decision_and_unrelated_images_never_match(service, record_property):
    decided = {}
    for path in ORIGINALS:
        first = upload(service, path.read_bytes())
        assert first["decided_by"] == "model" and "match" not in first
        settle(service)
        item = item_of(service, first_sha256(service, path))
        decide(service, item.id, "adult")
        decided[path.name] = item.id
    settle(service)
    distances, false_matches = {}, 0
    for path in ORIGINALS:
        for kind, data in variants(path).items():
            answer = upload(service, data)
            match = answer.get("match")
            assert match is not None, f"{path.name} {kind} followed no decision: {answer}"
            assert answer["verdict"] == "adult" and answer["decided_by"] == "review"
            assert match["source"] == "review" and 0 <= match["distance"] <= MAX_DISTANCE
            false_matches += match["item"] != decided[path.name]
            distances.setdefault(kind, []).append(match["distance"])
    assert false_matches == 0
    record_property("distances", {kind: (min(d), max(d)) for kind, d in distances.items()})
    # the near-duplicates were queued decided, following the item they matched; none is pending
    settle(service)
    assert service.get("/v1/review/items", headers=bearer()).get_json()["items"] == []
    decided_page = service.get("/v1/review/items?status=decided&limit=200", headers=bearer()).get_json()["items"]
    followers = [i for i in decided_page if i["follows"] is not None]
    assert len(followers) == sum(len(variants(p)) for p in ORIGINALS) - count_identical(service)
    assert all(i["follows"] in decided.values() and i["match_distance"] <= MAX_DISTANCE for i in followers)


def first_sha256(client, path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def count_identical(client) -> int:
    """Variants whose bytes equal another's (none expected; kept so a collision cannot fail the count)."""
    seen, same = set(), 0
    for path in ORIGINALS:
        for data in variants(path).values():
            same += data in seen
            seen.add(data)
    return same


def test_unrelated_test_images_are_far_apart(service, record_property):
    """Every test image and every variant of it, against every other image's: the false-match count."""
    hashes = {}
    for path in ORIGINALS:
        for kind, data in {"original": path.read_bytes(), **variants(path)}.items():
            hashes[(path.name, kind)] = upload(service, data)["pdq"]["hash"]
    nearest, false_matches = 256, 0
    names = list(hashes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a[0] != b[0]:
                distance = bin(int(hashes[a], 16) ^ int(hashes[b], 16)).count("1")
                nearest = min(nearest, distance)
                false_matches += distance <= MAX_DISTANCE
    record_property("nearest_unrelated", nearest)
    assert false_matches == 0 and nearest > 2 * MAX_DISTANCE


def test_lists_precedence_and_reject(service, caplog):
    chelsea, astronaut = ORIGINALS_BY_NAME["chelsea.png"], ORIGINALS_BY_NAME["astronaut_640x480.jpg"]
    cat = upload(service, chelsea.read_bytes())
    person = upload(service, astronaut.read_bytes())
    settle(service)
    # an allow list decides for the model ...
    put = service.put("/v1/lists/allow?action=safe", data=person["pdq"]["hash"] + "\n", headers=bearer())
    assert put.status_code == 200 and put.get_json()["count"] == 1
    settle(service)
    answer = upload(service, variants(astronaut)["jpeg q50"])
    assert answer["decided_by"] == "list" and answer["verdict"] == "safe"
    assert answer["match"]["source"] == "list" and answer["match"]["list"] == "allow"
    # ... a review decision comes before it ...
    decide(service, item_of(service, person_sha(astronaut)).id, "adult")
    settle(service)
    answer = upload(service, variants(astronaut)["resized 50%"])
    assert (answer["verdict"], answer["decided_by"], answer["match"]["source"]) == ("adult", "review", "review")
    # ... and a reject list before everything: 403 listed_content, nothing classified, queued or kept
    csv = f"signal_type,signal,distance\npdq,{cat['pdq']['hash']},20\n"
    assert service.put("/v1/lists/takedowns?action=reject", data=csv, headers=bearer()).status_code == 200
    service.put("/v1/lists/allow2?action=safe", data=cat["pdq"]["hash"], headers=bearer())
    settle(service)
    store = current.review_or_none(service.application).store
    before = store.counts()
    caplog.set_level(logging.INFO)
    for data in (chelsea.read_bytes(), variants(chelsea)["watermarked"]):
        item = service.post("/v1/classify", data=data, content_type="image/png").get_json()["results"][0]
        assert item["error"]["code"] == "listed_content"
        assert item["error"]["match"]["source"] == "list" and item["error"]["match"]["list"] == "takedowns"
    refused = service.post("/predict", data=variants(chelsea)["jpeg q50"], content_type="image/jpeg")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "listed_content"
    assert refused.get_json()["error"]["match"]["distance"] <= 20
    settle(service)
    assert store.counts() == before  # nothing queued
    queued_cat = item_of(service, person_sha(chelsea))  # queued before the list existed
    assert service.get(f"/v1/review/items/{queued_cat.id}/thumbnail", headers=bearer()).status_code == 404
    assert service.get(f"/v1/review/items/{queued_cat.id}", headers=bearer()).get_json()["has_thumbnail"] is False
    assert "takedowns" in caplog.text and cat["pdq"]["hash"] in caplog.text
    # the list's admin API: list, export, remove
    lists = service.get("/v1/lists", headers=bearer()).get_json()["lists"]
    assert [(x["name"], x["action"], x["count"]) for x in lists] == [
        ("allow", "safe", 1),
        ("allow2", "safe", 1),
        ("takedowns", "reject", 1),
    ]
    exported = service.get("/v1/lists/takedowns", headers=bearer()).get_data(as_text=True)
    assert exported == f"pdq,distance,quality\n{cat['pdq']['hash']},20,\n"
    assert service.delete("/v1/lists/takedowns", headers=bearer()).status_code == 204
    settle(service)
    assert upload(service, chelsea.read_bytes())["match"]["list"] == "allow2"


def test_list_api_refuses_bad_files_whole_and_needs_a_reviewer(service):
    assert service.get("/v1/lists").status_code == 401
    bad = service.put("/v1/lists/x?action=adult", data="a" * 64 + "\nnot a hash\n", headers=bearer())
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_hash_list"
    assert bad.get_json()["error"]["message"].startswith("line 2:")
    assert service.put("/v1/lists/x?action=delete", data="a" * 64, headers=bearer()).status_code == 400
    assert service.put("/v1/lists/-x?action=adult", data="a" * 64, headers=bearer()).status_code == 400
    assert service.get("/v1/lists", headers=bearer()).get_json() == {"lists": []}
    assert service.get("/v1/lists/none", headers=bearer()).status_code == 404


def test_a_cli_import_reaches_the_running_service(service, tmp_path):
    """No refresh by hand: the service's own thread sees the CLI's change within NSFW_MATCH_REFRESH_S."""
    cat = upload(service, ORIGINALS_BY_NAME["chelsea.png"].read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text(cat["pdq"]["hash"] + "\n")
    env = {"NSFW_DATABASE_URL": f"sqlite:///{tmp_path / 'review.db'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "nsfw", "hashes", "import", "cats", str(listing), "--action", "adult"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = upload(service, variants(ORIGINALS_BY_NAME["chelsea.png"])["resized 75%"])
        if answer.get("match"):
            break
        time.sleep(0.2)
    assert answer["match"]["list"] == "cats" and answer["verdict"] == "adult"


ORIGINALS_BY_NAME = {path.name: path for path in ORIGINALS}


def person_sha(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
