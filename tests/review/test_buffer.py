"""Issue 21 item 5: sightings waiting for a slow database hold thumbnails, not model inputs, within a byte bound."""

from __future__ import annotations

import sqlite3
import time
import tracemalloc
import types

import numpy as np
import review_helpers
from prometheus_client import REGISTRY

from nsfw.review import writer
from nsfw.web import current

reviewers_file = review_helpers.reviewers_file


def events(name: str) -> float:
    return REGISTRY.get_sample_value("nsfw_review_events_total", {"event": name}) or 0.0


def test_a_slow_database_keeps_the_buffer_within_its_bytes_and_holds_no_model_input(make_app, tmp_path, reviewers_file):
    path = tmp_path / "review.db"
    client = make_app(
        review="all",
        database_url=f"sqlite:///{path}",
        db_auto_migrate=True,
        reviewers_file=reviewers_file,
        review_db_timeout=3.0,
    )
    review = current.review_or_none(client.application)
    rng = np.random.default_rng(0)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the writer waits on every write: the buffer fills
    try:
        dropped = events("dropped")
        tracemalloc.start()
        held_before = tracemalloc.get_traced_memory()[0]
        for n in range(600):
            model_input = rng.random((1, 224, 224, 3), dtype=np.float32)  # 602 kB, as the model sees it
            result = types.SimpleNamespace(
                sha256=f"{n:064x}",
                model="mobilenet_v2",
                scores=dict(review_helpers.SCORES),
                width=640,
                height=480,
                match=None,
                pdq=None,
            )
            review.classified(result, f"https://images.example/{n}.jpg", model_input)
            del model_input
        held = tracemalloc.get_traced_memory()[0] - held_before
        tracemalloc.stop()
        waiting = list(review.writer._buffer.queue)
        assert review.writer._buffered <= writer.BUFFER_BYTES
        assert held <= writer.BUFFER_BYTES + 1024 * 1024, held  # was 256 model inputs: 154 MB
        assert all(job[1] is None or isinstance(job[1], bytes) for job in waiting)
        assert all(not isinstance(part, np.ndarray) for job in waiting for part in job)
        assert events("dropped") > dropped  # what did not fit was counted, not kept
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    review.flush()
    deadline = time.monotonic() + 35
    while review.breaker.open and time.monotonic() < deadline:  # the pause after the writes that failed
        time.sleep(0.1)
    result = types.SimpleNamespace(
        sha256="f" * 64,
        model="mobilenet_v2",
        scores=dict(review_helpers.SCORES),
        width=640,
        height=480,
        match=None,
        pdq=None,
    )
    review.classified(result, None, np.zeros((1, 224, 224, 3), dtype=np.float32))
    review.flush()
    item = review.store.get_by_sha256("f" * 64)
    assert item is not None and item.has_thumbnail  # the thumbnail made on the way in is what is stored
