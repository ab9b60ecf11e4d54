"""A worker's memory while the review database is slow: what waiting sightings cost.

    .venv/bin/python bench/review_rss.py                  # about a minute
    .venv/bin/python bench/review_rss.py --code ../other-checkout --images 400

The service in this process (the app a gunicorn worker runs, with its real model and decoders),
NSFW_REVIEW=all on a SQLite file that another connection holds with ``BEGIN EXCLUSIVE`` for the
whole run, so every write of the queue's writer waits: sightings pile up in its buffer. Then
``--images`` distinct images (random 64 px PNGs, so each one is new to the queue) are classified
through ``POST /v1/classify`` by ``--threads`` threads. Printed: this process's resident memory
(VmRSS) when warm, at its peak during the run, and after it. ``--code`` runs another checkout's
``nsfw`` (the before figure).
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def images(n: int) -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(21)
    out = []
    for _ in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--unlocked", action="store_true", help="the database not locked: the baseline")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose nsfw package is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    from nsfw import create_app
    from nsfw.settings import Settings
    from nsfw.web import current

    bodies = images(args.images)
    with tempfile.TemporaryDirectory(prefix="nsfw-bench-rss-") as tmp:
        path = Path(tmp) / "review.db"
        env = {"NSFW_REVIEW": "all", "NSFW_DATABASE_URL": f"sqlite:///{path}", "NSFW_TMP_DIR": tmp}
        app = create_app(Settings.from_env(env))
        client = app.test_client()
        for body in images(5):  # warm: the model, the decoders, the queue's thread
            client.post("/v1/classify", data=body, content_type="image/png")
        current.review_or_none(app).flush()
        warm = rss_mb()
        peak = [warm]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb())
                time.sleep(0.02)

        locker = sqlite3.connect(path, isolation_level=None)
        if not args.unlocked:
            locker.execute("BEGIN EXCLUSIVE")
        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        work = iter(bodies)
        lock = threading.Lock()
        statuses: dict[int, int] = {}

        def classify() -> None:
            local = app.test_client()
            while True:
                with lock:
                    body = next(work, None)
                if body is None:
                    return
                response = local.post("/v1/classify", data=body, content_type="image/png")
                with lock:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        threads = [threading.Thread(target=classify) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        stop.set()
        sampler.join()
        after = rss_mb()
        if not args.unlocked:
            locker.execute("ROLLBACK")
        locker.close()
        current.detector(app).close()
    state = "answering" if args.unlocked else "locked throughout"
    print(f"{args.images} new images in {took:.1f} s, the review database {state} ({args.code})")
    print(f"  answers    {statuses}")
    print(f"  RSS warm   {warm:7.1f} MB")
    print(f"  RSS peak   {peak[0]:7.1f} MB")
    print(f"  RSS after  {after:7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
