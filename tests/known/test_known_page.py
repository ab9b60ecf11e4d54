"""The review page shows an item's match: the item a near-duplicate follows, the decided item or list a pending
item is near; and never the thumbnail of an image a reject list names (in process, Flask's test client)."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
import review_helpers
from PIL import Image
from review_helpers import TOKENS, sighting

from nsfw.known.hashes import Entry
from nsfw.web import current

reviewers_file = review_helpers.reviewers_file
DECIDED = "5a" * 32


def near(value: str, bits: int) -> str:
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def page(make_app, tmp_path, reviewers_file):
    client = make_app(
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
    )
    review = current.review_or_none(client.application)
    store = review.store
    store.record(dataclasses.replace(sighting(1), pdq=DECIDED, pdq_quality=100), jpeg)
    source = store.get_by_sha256(sighting(1).sha256)
    store.decide(source.id, "adult", "ann")
    follower = dataclasses.replace(sighting(2), pdq=near(DECIDED, 6), pdq_quality=100, follows=source.id)
    store.record(dataclasses.replace(follower, follows_decision="adult", match_distance=6), jpeg)
    store.record(dataclasses.replace(sighting(3), pdq=near(DECIDED, 9), pdq_quality=100), jpeg)
    listed = "c3" * 32
    store.record(dataclasses.replace(sighting(4), pdq=listed, pdq_quality=100), jpeg)
    review.lists.replace("takedowns", "reject", [Entry(near(listed, 3))])
    review.known.refresh()
    form = client.get("/review/sign-in").get_data(as_text=True)  # as a browser: the form's CSRF token first
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    assert client.post("/review/sign-in", data={"token": TOKENS["ann"], "csrf": csrf}).status_code == 303
    ids = {n: store.get_by_sha256(sighting(n).sha256).id for n in (1, 2, 3, 4)}
    return client, ids


def test_a_follower_names_the_item_it_follows(page):
    client, ids = page
    html = client.get(f"/review?item={ids[2]}").get_data(as_text=True)
    assert 'id="follows"' in html and f"item {ids[1]}</a>" in html and "6 bits away" in html
    assert f"?item={ids[1]}" in html


def test_a_pending_item_near_a_decision_says_so(page):
    client, ids = page
    html = client.get(f"/review?item={ids[3]}").get_data(as_text=True)
    assert 'id="match"' in html and f"item {ids[1]}</a>, decided adult" in html and "9 bits away" in html


def test_a_reject_listed_item_shows_no_thumbnail(page):
    client, ids = page
    html = client.get(f"/review?item={ids[4]}").get_data(as_text=True)
    assert 'id="listed"' in html and "<img" not in html
    assert client.get(f"/review/items/{ids[4]}/thumbnail").status_code == 404
    assert client.get(f"/review/items/{ids[3]}/thumbnail").status_code == 200  # an unlisted one still shows
