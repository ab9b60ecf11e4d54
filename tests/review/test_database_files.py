"""The SQLite review database holds thumbnails of strangers' images: its files are its owner's alone."""

from __future__ import annotations

import os
import stat

from review_helpers import sighting

from nsfw.review import schema
from nsfw.review.store import ReviewStore


def test_the_database_its_wal_and_shm_and_their_directory_are_readable_by_their_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which a new file is 0644
    try:
        url = f"sqlite:///{tmp_path / 'data' / 'nsfw.db'}"
        schema.upgrade(url)
        store = ReviewStore(schema.engine(url), max_sources=3)
        try:
            assert store.record(sighting(1), lambda: b"a thumbnail")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").iterdir()}
        finally:
            store.close()
    finally:
        os.umask(old)
    assert {name: modes[name] for name in ("nsfw.db", "nsfw.db-wal", "nsfw.db-shm")} == dict.fromkeys(
        ("nsfw.db", "nsfw.db-wal", "nsfw.db-shm"), 0o600
    )
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_an_existing_database_keeps_its_mode(tmp_path):
    """The operator's own file (made by them, or restored from a backup) is not changed."""
    path = tmp_path / "nsfw.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    schema.upgrade(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
