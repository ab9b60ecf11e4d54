"""Compare worker/thread/interpreter layouts, or two checkouts, on the headline cells.

    .venv/bin/python bench/compare.py                       # the default set of layouts, 3 rounds
    .venv/bin/python bench/compare.py --rounds 1 --layout "WEB_CONCURRENCY=1 NSFW_INFERENCE_THREADS=2"
    .venv/bin/python bench/compare.py --concurrency 2,8 --close 8 --layout "" --layout "TREE=/tmp/before"

Each layout is a full ``run.py`` (fresh gunicorn) limited to upload and url,
640x480 JPEG, concurrency 8 (``--concurrency``, ``--close`` for cells with a new
connection per request). Rounds are interleaved (A B C, A B C, ...) and
the median of each figure over the rounds is reported, because on a shared VM the machine's speed
drifts over minutes: back-to-back repeats of one layout would compare the
layouts with the drift. Each cell also gives the busiest worker's share of the workers' CPU
(50% is an even split over two workers), its median and its worst round.

A layout may name another checkout with ``TREE=<dir>``: this harness (``run.py --serve DIR``) serves
that tree's ``app.py`` with its ``gunicorn.conf.py``, so both are measured alike, in the same run:

    mkdir /tmp/before && git archive HEAD~5 | tar -x -C /tmp/before
    .venv/bin/python bench/compare.py --layout "" --layout "TREE=/tmp/before"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_LAYOUTS = (
    "",  # the deployed default: WEB_CONCURRENCY=cores, 4 threads, 1 interpreter, 1 inference thread
    "NSFW_THREADS=8",
    "NSFW_THREADS=1",
    "NSFW_INTERPRETERS=2",
    "NSFW_INFERENCE_THREADS=2",
    "WEB_CONCURRENCY=1 NSFW_INFERENCE_THREADS=2",
    "MALLOC_ARENA_MAX=2",  # glibc: fewer per-thread heaps holding freed numpy buffers
)


def run_layout(layout: str, args, out: Path) -> dict | None:
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in layout.split())
    tree = env.pop("TREE", None)
    cmd = [
        sys.executable,
        str(HERE / "run.py"),
        "--modes",
        "upload,url",
        "--images",
        "640x480",
        "--concurrency",
        args.concurrency,
        "--close",
        args.close,
        "--soak",
        "0",
        "--duration",
        str(args.duration),
        "--json",
        str(out),
        "--output",
        str(out.with_suffix(".md")),
        "--no-original",  # layouts need no original-design cell
    ]
    if tree:
        cmd += ["--serve", str(Path(tree).resolve())]
    done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if not out.exists():
        print(f"layout {layout or 'default'} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.read_text())


def cell_name(cell: dict) -> str:
    return f"{cell['mode']} c{cell['connections']}{' new conn.' if cell.get('close') else ''}"


def headline(data: dict) -> dict:
    """Figures of each measured cell of one run (by cell name), plus the machine's calibration."""
    row = {
        "calibration": statistics.mean(data["calibration_ms"]),
        "errors": 0,
        "rss": max((m for c in data["cells"] for m in c["rss_mb"]), default=float("nan")),
        "cells": {},
    }
    for cell in data["cells"]:
        if cell["mode"] not in ("upload", "url"):
            continue
        shares = cell.get("worker_cpu") or []
        row["cells"][cell_name(cell)] = {
            "rps": cell["rps"],
            "p99": cell["result"]["p99_ms"],
            "cpu_ms": cell["cpu_ms"],
            "busiest": 100 * max(shares) / sum(shares) if len(shares) > 1 and sum(shares) > 0 else float("nan"),
        }
        row["errors"] += cell["errors"]
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--layout",
        action="append",
        help='env assignments, e.g. "NSFW_THREADS=8" or "TREE=/tmp/before" (repeatable; "" is the default layout)',
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=8)
    p.add_argument("--concurrency", default="8", help="keep-alive connection counts (default 8)")
    p.add_argument("--close", default="0", help="connection counts with a new connection per request (default none)")
    args = p.parse_args()
    layouts = args.layout if args.layout is not None else list(DEFAULT_LAYOUTS)
    runs: dict[str, list[dict]] = {layout: [] for layout in layouts}
    with tempfile.TemporaryDirectory(prefix="nsfw-compare-") as tmp:
        for round_no in range(args.rounds):
            for i, layout in enumerate(layouts):
                print(f"round {round_no + 1}/{args.rounds}: {layout or 'default'}", file=sys.stderr, flush=True)
                data = run_layout(layout, args, Path(tmp) / f"{round_no}-{i}.json")
                if data is not None:
                    runs[layout].append(headline(data))
                    for name, cell in runs[layout][-1]["cells"].items():  # each fresh start's own figures
                        print(
                            f"  {name}: {cell['rps']:.1f} req/s, p99 {cell['p99']:.0f} ms, {cell['cpu_ms']:.1f} CPU "
                            f"ms/req, busiest worker {cell['busiest']:.0f}%",
                            file=sys.stderr,
                            flush=True,
                        )
    print(
        "| layout | cell | req/s | p99 ms | CPU ms/req | busiest worker % (median, worst) | max RSS MB "
        "| calibration ms | errors | rounds |"
    )
    print("| --- " * 10 + "|")
    for layout, rows in runs.items():
        if not rows:
            print(f"| {layout or 'default'} | failed |" + " |" * 8)
            continue
        names = list(dict.fromkeys(name for r in rows for name in r["cells"]))
        for name in names:
            cells = [r["cells"][name] for r in rows if name in r["cells"]]
            med = {k: statistics.median(c[k] for c in cells) for k in ("rps", "p99", "cpu_ms", "busiest")}
            worst = max(c["busiest"] for c in cells)
            print(
                f"| {layout or 'default'} | {name} | {med['rps']:.1f} | {med['p99']:.0f} | {med['cpu_ms']:.1f} | "
                f"{med['busiest']:.0f} ({worst:.0f}) | {statistics.median(r['rss'] for r in rows):.0f} | "
                f"{statistics.median(r['calibration'] for r in rows):.0f} | {sum(r['errors'] for r in rows)} | "
                f"{len(cells)} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
