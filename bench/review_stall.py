"""What a stalled review database costs requests: a PostgreSQL table held by LOCK TABLE ... ACCESS EXCLUSIVE.

    .venv/bin/python bench/review_stall.py                       # about 30 s
    .venv/bin/python bench/review_stall.py --code ../other-checkout --threads 40 --hold 20

A throwaway PostgreSQL cluster (Debian's postgresql package) is started on loopback, the schema
migrated, one image decided. Then another connection takes ``LOCK TABLE review_items IN ACCESS
EXCLUSIVE MODE`` (what a migration or ``VACUUM FULL`` does) and holds it for ``--hold`` seconds
while ``--threads`` threads (a worker's request threads) make the decision lookup of
``/v1/classify`` (``Review.decisions``) over and over. Printed: the worst and median time of one
lookup, how many lookups were answered, and the most connections this process held at once
(``pg_stat_activity``). ``--code`` runs another checkout's ``nsfw`` (the before figure).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds the table stays locked")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose nsfw package is measured")
    args = parser.parse_args()
    sys.path[:0] = [str(args.code.resolve()), str(ROOT / "tests")]
    import postgres_helpers
    import psycopg

    bin_dir = postgres_helpers.binaries()
    if bin_dir is None:
        print(postgres_helpers.MISSING)
        return 1
    server = postgres_helpers.PostgresServer(bin_dir)
    try:
        server.start()
        run(server, args, psycopg)
    finally:
        server.kill()
        server.remove()
    return 0


def run(server, args, psycopg) -> None:
    from nsfw.review import schema
    from nsfw.review.service import Review
    from nsfw.review.store import Sighting
    from nsfw.settings import Settings

    url = server.fresh_url()
    schema.upgrade(url)
    settings = Settings.from_env({"NSFW_REVIEW": "all", "NSFW_DATABASE_URL": url})
    review = Review.from_settings(settings)
    sha = "ab" * 32
    review.store.record(Sighting(sha, None, "mobilenet_v2", {"porn": 0.5, "neutral": 0.5}, "unknown"))
    review.store.decide(review.store.get_by_sha256(sha).id, "adult", "ann")
    assert review.decisions([sha]) == {sha: "adult"}
    times: list[float] = []
    stop = threading.Event()
    most = [0]

    def lookups() -> None:
        while not stop.is_set():
            started = time.monotonic()
            review.decisions([sha])
            times.append(time.monotonic() - started)
            time.sleep(0.02)  # the rest of a request: the thread does not only look up

    def connections() -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(
            host="127.0.0.1", port=server.port, user=server.USER, dbname="postgres", autocommit=True
        ) as conn:
            while not stop.is_set():
                query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = ''"
                most[0] = max(most[0], conn.execute(query, (name,)).fetchone()[0] - 1)  # not the lock's own
                time.sleep(0.05)

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as locker:
        locker.execute("LOCK TABLE review_items IN ACCESS EXCLUSIVE MODE")
        threads = [threading.Thread(target=lookups) for _ in range(args.threads)]
        threads.append(threading.Thread(target=connections))
        for thread in threads:
            thread.start()
        time.sleep(args.hold)
        locker.rollback()
    stop.set()
    for thread in threads:
        thread.join()
    review.close()
    print(f"table locked {args.hold:g} s, {args.threads} threads looking up ({args.code})")
    print(f"  worst lookup   {max(times) * 1000:10.1f} ms")
    print(f"  median lookup  {statistics.median(times) * 1000:10.1f} ms")
    print(f"  lookups answered {len(times):8d}")
    print(f"  most connections held {most[0]:4d}")


if __name__ == "__main__":
    sys.exit(main())
