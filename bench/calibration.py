"""What GET /review/calibration costs as decisions accumulate: reading them, the numbers, the plot.

    .venv/bin/python bench/calibration.py                      # 1k, 10k and 100k decisions, about a minute
    .venv/bin/python bench/calibration.py --sizes 1000 --rounds 3

For each size, a fresh SQLite queue (a temporary file, as NSFW_DATABASE_URL's default) is filled
with that many decided items, then timed, median of the rounds, in wall-clock milliseconds:
reading every decision (``ReviewStore.decided_scores``, what each request does), the calibration
itself (``calibration.calibrate``: every threshold and the suggestion), and drawing the plot the
first time (matplotlib; later requests with unchanged data are served from the per-process cache).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from nsfw.review import calibration, calibration_plot, schema  # noqa: E402
from nsfw.review.store import ReviewStore, utcnow  # noqa: E402
from nsfw.review.tables import ITEMS  # noqa: E402
from nsfw.verdict import Thresholds  # noqa: E402


def fill(store: ReviewStore, n: int, rng: random.Random) -> None:
    """n decided items, nsfw scores spread as a real queue's: adult ones high, safe ones low, overlapping."""
    now = utcnow()
    rows = []
    for i in range(n):
        adult = rng.random() < 0.5
        nsfw = rng.betavariate(5, 2) if adult else rng.betavariate(2, 5)
        scores = {"drawings": 0.0, "hentai": 0.0, "neutral": 1.0 - nsfw, "porn": nsfw, "sexy": 0.0}
        rows.append(
            {
                "sha256": f"{i:064x}",
                "first_seen": now,
                "last_seen": now,
                "seen_count": 1,
                "sources": [],
                "model": "mobilenet_v2",
                "scores": scores,
                "verdict": "unknown",
                "decision": "adult" if adult else "safe",
                "decided_by": "bench",
                "decided_at": now,
            }
        )
    with store.engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(ITEMS), rows[start : start + 5000])


def timed(fn, rounds: int, *args) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn(*args)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def read(store: ReviewStore) -> list:
    return [calibration.Decided.from_scores(*row) for row in store.decided_scores()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(13)
    current = Thresholds(adult=0.8, safe=0.2)
    print("| decided items | read them (ms) | calibrate (ms) | first plot (ms) | plot size (KB) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        folder = Path(tempfile.mkdtemp(prefix="nsfw-bench-calibration-"))
        try:
            url = f"sqlite:///{folder / 'review.db'}"
            schema.upgrade(url)
            store = ReviewStore(schema.engine(url))
            fill(store, n, rng)
            read_ms, items = timed(read, args.rounds, store)
            calibrate_ms, result = timed(calibration.calibrate, args.rounds, items, current)
            calibration_plot._cache.clear()
            start = time.perf_counter()
            png = calibration_plot.png(result)
            plot_ms = (time.perf_counter() - start) * 1000
            print(f"| {n} | {read_ms:.0f} | {calibrate_ms:.1f} | {plot_ms:.0f} | {len(png) / 1000:.0f} |", flush=True)
            store.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
