"""What the review queue costs a classification: the decision lookup, and queueing, per image.

    .venv/bin/python bench/review.py                 # about a minute
    .venv/bin/python bench/review.py --lookups 5000 --items 50000

The lookup ``/v1/classify`` makes for a reviewer's decision (``Review.decisions``, one indexed
query) is timed against SQLite (a file, WAL) and a real PostgreSQL on loopback (when installed;
a throwaway cluster is started), next to what the result cache's lookups cost: a Redis GET of a
cached result with its decoding (when redis-server is installed), and the in-process LRU hit.
The store holds ``--items`` items, a tenth of them decided; half the lookups find a decision.
Then queueing: what the request thread pays (``Review.classified``: a bounded put), and what
the background writer pays per sighting, for a new image (with its thumbnail) and a known one.

Wall-clock microseconds per call, the median of ``--rounds`` rounds (each the mean of its calls),
single-threaded; the figures are to set against the ~15 ms of CPU one image costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from nsfw import pipeline  # noqa: E402
from nsfw.cache import ResultCache, redis_client  # noqa: E402
from nsfw.pipeline import cached  # noqa: E402
from nsfw.review import schema, thumbnails  # noqa: E402
from nsfw.review.service import Review  # noqa: E402
from nsfw.review.store import ReviewStore, Sighting  # noqa: E402
from nsfw.settings import Settings  # noqa: E402

SCORES = {"drawings": 0.01, "hentai": 0.02, "neutral": 0.5, "porn": 0.3, "sexy": 0.17}
RESULT = pipeline.Classification("mobilenet_v2", SCORES, "JPEG", 640, 480, 1, {}, size=50_000)


def sha(n: int) -> str:
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def timed(call, calls: int, rounds: int) -> float:
    """Median over rounds of the mean wall-clock µs per call."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(calls):
            call(i)
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def fill(store: ReviewStore, items: int) -> None:
    """``items`` items, every tenth decided, inserted in bulk."""
    from sqlalchemy import insert

    from nsfw.review.tables import ITEMS

    now = store.clock()
    rows = [
        {
            "sha256": sha(n),
            "first_seen": now,
            "last_seen": now,
            "seen_count": 1,
            "sources": [],
            "model": "mobilenet_v2",
            "scores": SCORES,
            "verdict": "unknown",
            "decision": "adult" if n % 10 == 0 else None,
            "decided_by": "bench" if n % 10 == 0 else None,
            "decided_at": now if n % 10 == 0 else None,
        }
        for n in range(items)
    ]
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(ITEMS), rows[start : start + 5000])


def lookups(url: str, args) -> float:
    schema.upgrade(url)
    settings = Settings().replace(review="all", database_url=url, db_auto_migrate=False)
    review = Review.from_settings(settings)
    try:
        fill(review.store, args.items)
        # half the lookups find a decision (n % 10 == 0), half find an item without one or nothing
        keys = [sha((i * 5) % (2 * args.items)) for i in range(args.lookups)]
        review.decisions([keys[0]])  # connect
        return timed(lambda i: review.decisions([keys[i]]), args.lookups, args.rounds)
    finally:
        review.close()


def queueing(url: str, args) -> dict:
    schema.upgrade(url)
    settings = Settings().replace(review="all", database_url=url, db_auto_migrate=False)
    review = Review.from_settings(settings)
    tensor = np.random.default_rng(1).random((1, 224, 224, 3), dtype=np.float32)
    try:
        review._start = lambda: None  # no writer thread: the put is what a request pays
        results = [dataclasses.replace(RESULT, sha256=sha(10**9 + n)) for n in range(args.lookups)]

        def hook(i):
            try:
                review.classified(results[i], "http://example.com/a.jpg", tensor)
            finally:
                review._buffer.get_nowait()

        put = timed(hook, args.lookups, args.rounds)
        calls = max(50, args.lookups // 10)
        counter = iter(range(10**6))

        def new(_):
            sighting = Sighting(sha(2 * 10**9 + next(counter)), "http://example.com/a.jpg", "m", SCORES, "unknown")
            review.store.record(sighting, lambda: thumbnails.from_model_input(tensor, 640, 480))

        known = Sighting(sha(3 * 10**9), "http://example.com/a.jpg", "m", SCORES, "unknown")
        review.store.record(known)
        return {
            "request thread: classified (a bounded put)": put,
            "writer: a new image, with its thumbnail": timed(new, calls, args.rounds),
            "writer: a known image (one more view)": timed(lambda _: review.store.record(known), calls, args.rounds),
            "thumbnail alone (160 px JPEG from the model input)": timed(
                lambda _: thumbnails.from_model_input(tensor, 640, 480), calls, args.rounds
            ),
        }
    finally:
        review.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=2000, help="calls per round")
    parser.add_argument("--items", type=int, default=20000, help="items in the store")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="nsfw-bench-review-"))
    rows = {}
    servers = []
    try:
        rows["decision lookup, SQLite (WAL file)"] = lookups(f"sqlite:///{folder / 'lookup.db'}", args)
        import postgres_helpers

        bin_dir = postgres_helpers.binaries()
        if bin_dir is not None:
            server = postgres_helpers.PostgresServer(bin_dir)
            servers.append(server)
            server.start()
            rows["decision lookup, PostgreSQL (loopback TCP)"] = lookups(server.fresh_url(), args)
        else:
            print("PostgreSQL is not installed: its row is left out", file=sys.stderr)
        if shutil.which("redis-server"):
            import redis_helpers

            redis = redis_helpers.RedisServer(folder)
            servers.append(redis)
            redis.start()
            client = redis_client(redis.url)
            raw = cached.encode(RESULT)
            names = [f"nsfw:result:v1:{sha(n)}:mobilenet_v2" for n in range(args.lookups)]
            for name in names:
                client.set(name, raw)
            rows["result cache lookup, Redis GET + decode (loopback TCP)"] = timed(
                lambda i: cached.decode(client.get(names[i])), args.lookups, args.rounds
            )
            client.close()
        else:
            print("redis-server is not installed: its row is left out", file=sys.stderr)
        lru = ResultCache(4096)
        lru.get_or_compute("k", lambda: RESULT)
        rows["result cache lookup, in-process LRU hit"] = timed(
            lambda i: lru.get_or_compute("k", lambda: RESULT), args.lookups, args.rounds
        )
        rows.update(queueing(f"sqlite:///{folder / 'queue.db'}", args))
    finally:
        for server in servers:
            server.kill()
            if hasattr(server, "remove"):
                server.remove()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{args.items} items in the store, {args.lookups} calls x {args.rounds} rounds, pid {os.getpid()}\n")
    print("| what | µs per call |")
    print("|---|---:|")
    for name, micros in rows.items():
        print(f"| {name} | {micros:,.1f} |")


if __name__ == "__main__":
    main()
