"""Hash lists at scale: import, load, lookup and memory, next to a linear scan.

    .venv/bin/python bench/hash_lists.py                    # 1,000,000 hashes, about a minute
    .venv/bin/python bench/hash_lists.py --count 10000000 --index-only   # 10 M: the index alone, about 2 GB
    .venv/bin/python bench/hash_lists.py --faiss            # faiss-cpu's IndexBinaryMultiHash too, if installed

Random PDQ hashes (the worst case for an index is uneven chunk values; random ones are even) are
written as a one-hash-a-line file and imported as ``nsfw hashes import`` does: read and checked
whole, then one transaction into a SQLite file (WAL). Then what each worker does: load every entry
and build the index (``KnownContent.refresh``). Lookups are near-duplicates of listed hashes
(31 bits flipped, the default NSFW_MATCH_DISTANCE) and unrelated hashes, half each; wall-clock and
thread CPU time per lookup, percentiles over ``--lookups``. The linear scan is numpy's popcount
over every hash (what an index saves). Memory is the index's arrays per hash, and the process's
RSS growth while the index is built.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from nsfw.imaging.pdq import Pdq  # noqa: E402
from nsfw.known import hashes  # noqa: E402
from nsfw.known.index import HashIndex, distances  # noqa: E402
from nsfw.review import schema  # noqa: E402
from nsfw.review.hashlists import HashLists  # noqa: E402
from nsfw.review.known import KnownContent  # noqa: E402
from nsfw.review.store import ReviewStore  # noqa: E402

RADIUS = 31


def flipped(code: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    out = code.copy()
    for bit in rng.choice(256, bits, replace=False):
        out[bit // 8] ^= 1 << (bit % 8)
    return out


def percentiles(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return f"p50 {np.percentile(ms, 50):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.3f} ms"


def timed(calls, fn) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for arg in calls:
        w, c = time.perf_counter(), time.thread_time()
        fn(arg)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    return wall, cpu


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--scans", type=int, default=30, help="linear scans timed (each reads every hash)")
    parser.add_argument("--faiss", action="store_true")
    parser.add_argument("--index-only", action="store_true", help="no database: build the index from memory")
    args = parser.parse_args()
    rng = np.random.default_rng(20)
    codes = rng.integers(0, 256, (args.count, 32), dtype=np.uint8)
    if args.index_only:
        bench_index(codes, rng, args)
        return
    work = Path(tempfile.mkdtemp(prefix="nsfw-bench-lists-"))
    try:
        print(f"{args.count:,} random PDQ hashes; radius {RADIUS}; cpu {os.cpu_count()}", flush=True)
        listing = work / "list.txt"
        with open(listing, "w") as fh:
            for start in range(0, args.count, 100_000):
                fh.write("\n".join(c.tobytes().hex() for c in codes[start : start + 100_000]) + "\n")
        url = f"sqlite:///{work / 'nsfw.db'}"
        schema.upgrade(url)
        store = ReviewStore(schema.engine(url))
        started = time.perf_counter()
        entries = hashes.read(listing.read_text())
        parsed = time.perf_counter() - started
        HashLists(store.engine).replace("bench", "reject", entries)
        print(f"import: {time.perf_counter() - started:.1f} s (read and check {parsed:.1f} s)", flush=True)
        del entries

        known = KnownContent(store, distance=RADIUS, refresh_s=3600)
        before = rss_mb()
        started = time.perf_counter()
        known.refresh()
        index = known._reject.index
        print(
            f"load and build in a worker: {time.perf_counter() - started:.1f} s; index {index.nbytes / args.count:.1f} "
            f"bytes/hash ({index.nbytes / 2**20:.0f} MB); RSS +{rss_mb() - before:.0f} MB after the build "
            f"(peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)",
            flush=True,
        )
        queries = []
        for i in range(args.lookups):
            if i % 2:
                queries.append(rng.integers(0, 256, 32, dtype=np.uint8))
            else:
                queries.append(flipped(codes[rng.integers(args.count)], RADIUS, rng))
        pdqs = [Pdq(q.tobytes().hex(), 100) for q in queries]
        hits = sum(known.rejected(p) is not None for p in pdqs)
        wall, cpu = timed(pdqs, known.rejected)
        print(
            f"lookup (KnownContent.rejected), {hits} of {len(pdqs)} found: wall {percentiles(wall)}; "
            f"cpu {percentiles(cpu)}",
            flush=True,
        )
        wall, cpu = timed(queries[: args.scans], lambda q: np.flatnonzero(distances(codes, q) <= RADIUS))
        print(f"linear scan (numpy popcount over every hash): wall {percentiles(wall)}; cpu {percentiles(cpu)}")
        if args.faiss:
            bench_faiss(codes, queries)
        known.close()
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_index(codes: np.ndarray, rng: np.random.Generator, args: argparse.Namespace) -> None:
    """The index alone (what a worker holds), without the import and the load."""
    before = rss_mb()
    started = time.perf_counter()
    index = HashIndex(codes)
    print(
        f"{args.count:,} hashes, index only: build {time.perf_counter() - started:.1f} s; "
        f"{index.nbytes / args.count:.1f} bytes/hash; RSS +{rss_mb() - before:.0f} MB",
        flush=True,
    )
    near = [flipped(codes[rng.integers(args.count)], RADIUS, rng) for _ in range(args.lookups // 2)]
    queries = near + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(args.lookups - len(near))]
    wall, cpu = timed(queries, lambda q: index.search(q, RADIUS))
    print(f"lookup (HashIndex.search): wall {percentiles(wall)}; cpu {percentiles(cpu)}")
    wall, cpu = timed(queries[: args.scans], lambda q: np.flatnonzero(distances(codes, q) <= RADIUS))
    print(f"linear scan: wall {percentiles(wall)}; cpu {percentiles(cpu)}")


def bench_faiss(codes: np.ndarray, queries: list) -> None:
    try:
        import faiss
    except ImportError:
        print("faiss: not installed")
        return
    before = rss_mb()
    started = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(256, 8, 32)  # 8 tables of 32 bits
    index.nflip = 3
    index.add(codes)
    print(
        f"faiss IndexBinaryMultiHash(8 x 32 bits, nflip 3): build {time.perf_counter() - started:.1f} s, "
        f"RSS +{rss_mb() - before:.0f} MB"
    )
    wall, cpu = timed(queries, lambda q: index.range_search(q.reshape(1, 32), RADIUS + 1))
    print(f"faiss lookup: wall {percentiles(wall)}; cpu {percentiles(cpu)}")


if __name__ == "__main__":
    main()
