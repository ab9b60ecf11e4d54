"""Hash lists and decided hashes in the review database (SQLite and PostgreSQL), and each worker's matcher."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import review_helpers
from review_helpers import sighting

from nsfw.errors import HashListNotFound, InvalidHashList
from nsfw.imaging.pdq import Pdq
from nsfw.known import hashes
from nsfw.known.hashes import Entry
from nsfw.review.hashlists import HashLists, versions
from nsfw.review.known import KnownContent

postgres_server = review_helpers.postgres_server
database_url = review_helpers.database_url
store = review_helpers.store

RNG = np.random.default_rng(7)


def random_hash() -> str:
    return RNG.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def near(value: str, bits: int) -> str:
    """``value`` with its first ``bits`` bits flipped."""
    number = int(value, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{number:064x}"


@pytest.fixture
def known(store):
    matcher = KnownContent(store, distance=31, refresh_s=60)
    yield matcher
    matcher.close()


def test_import_export_list_remove(store):
    lists = HashLists(store.engine)
    entries = [Entry(random_hash(), 12, 90), Entry(random_hash())]
    info = lists.replace("partner", "reject", entries)
    assert (info.name, info.action, info.count) == ("partner", "reject", 2)
    assert list(lists.entries("partner")) == entries
    again = lists.replace("partner", "adult", entries[:1])  # replaced whole, action too
    assert [i.to_dict()["count"] for i in lists.lists()] == [1] and again.action == "adult"
    lists.remove("partner")
    assert lists.lists() == []
    with pytest.raises(HashListNotFound):
        lists.remove("partner")
    with pytest.raises(HashListNotFound):
        list(lists.entries("partner"))


def test_a_bad_file_changes_nothing(store):
    lists = HashLists(store.engine)
    lists.replace("partner", "adult", [Entry(random_hash())])
    before = versions(store.engine)
    with pytest.raises(InvalidHashList):
        lists.replace("partner", "adult", hashes.read(f"{random_hash()}\nnope\n"))
    with pytest.raises(InvalidHashList):
        lists.replace("partner", "delete", [])
    assert [i.count for i in lists.lists()] == [1] and versions(store.engine) == before


def test_lists_precedence_quality_and_refresh(store, known):
    lists = HashLists(store.engine)
    listed, allowed, own = random_hash(), random_hash(), random_hash()
    assert known.refresh() and not known.refresh()  # loaded once, then nothing changed
    assert known.rejected(Pdq(listed, 100)) is None
    lists.replace("takedowns", "reject", [Entry(listed)])
    lists.replace("allow", "safe", [Entry(allowed), Entry(own, 40)])
    assert known.refresh()
    found = known.rejected(Pdq(near(listed, 31), 100))
    assert found.to_dict() == {"source": "list", "list": "takedowns", "distance": 31}
    assert known.rejected(Pdq(near(listed, 32), 100)) is None
    assert known.rejected(Pdq(allowed, 100)) is None  # a safe list never rejects
    assert known.match(Pdq(near(allowed, 3), 100)).to_dict() == {"source": "list", "list": "allow", "distance": 3}
    assert known.match(Pdq(near(own, 38), 100)).verdict == "safe"  # that row's own distance, 40
    assert known.match(Pdq(allowed, 49)) is None and known.rejected(Pdq(listed, 0)) is None  # low quality
    lists.remove("takedowns")
    known.refresh()
    assert known.rejected(Pdq(listed, 100)) is None


def test_decisions_follow_near_duplicates_before_lists(store, known):
    lists = HashLists(store.engine)
    decided = random_hash()
    store.record(dataclasses.replace(sighting(1), pdq=decided, pdq_quality=100))
    item = store.get_by_sha256(sighting(1).sha256)
    lists.replace("allow", "safe", [Entry(near(decided, 2))])
    known.refresh()
    assert known.match(Pdq(near(decided, 4), 100)).list == "allow"  # not decided yet: the list
    store.decide(item.id, "adult", "ann")
    assert known.refresh()
    found = known.match(Pdq(near(decided, 20), 100))
    assert found.to_dict() == {"source": "review", "item": item.id, "distance": 20} and found.verdict == "adult"

    # the near-duplicate is queued decided, following the item; it is no source itself (no chains)
    follower = dataclasses.replace(
        sighting(2), pdq=near(decided, 20), pdq_quality=100, follows=item.id, follows_decision="adult"
    )
    follower = dataclasses.replace(follower, match_distance=20)
    store.record(follower)
    queued = store.get_by_sha256(sighting(2).sha256)
    assert (queued.decision, queued.follows, queued.match_distance) == ("adult", item.id, 20)
    assert [row[0] for row in store.decided_hashes(50)] == [item.id]
    assert store.decisions([sighting(2).sha256]) == {sighting(2).sha256: "adult"}  # its exact bytes, too

    store.decide(item.id, "safe", "bob")  # followers take a changed decision
    assert store.get(queued.id).decision == "safe"
    store.undecide(item.id, "bob")  # and an undo sends them back to pending
    assert store.get(queued.id).decision is None
    known.refresh()
    assert known.match(Pdq(near(decided, 20), 100)).source == "list"


def test_low_quality_items_are_not_indexed(store, known):
    store.record(dataclasses.replace(sighting(3), pdq=random_hash(), pdq_quality=10))
    store.decide(store.get_by_sha256(sighting(3).sha256).id, "adult", "ann")
    assert store.decided_hashes(50) == []
