"""Compare worker/thread/interpreter layouts on the two headline cells.

    .venv/bin/python bench/compare.py                       # the default set of layouts, 3 rounds
    .venv/bin/python bench/compare.py --rounds 1 --layout "WEB_CONCURRENCY=1 NSFW_INFERENCE_THREADS=2"

Each layout is a full ``run.py`` (fresh gunicorn) limited to upload and url,
640x480 JPEG, concurrency 8. Rounds are interleaved (A B C, A B C, ...) and
the median of each figure over the rounds is reported, because on a shared VM the machine's speed
drifts over minutes: back-to-back repeats of one layout would compare the
layouts with the drift.

A layout may name another checkout with ``TREE=<dir>``: that tree's own ``bench/run.py`` (and its
``.venv`` if it has one) serves it, which measures what a change costs in the same run:

    git worktree add ../before HEAD~5
    .venv/bin/python bench/compare.py --layout "" --layout "TREE=../before"
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


def run_layout(layout: str, duration: float, out: Path) -> dict | None:
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in layout.split())
    tree = Path(env.pop("TREE", HERE.parent)).resolve()
    python = tree / ".venv" / "bin" / "python"
    cmd = [
        str(python) if python.exists() else sys.executable,
        str(tree / "bench" / "run.py"),
        "--modes",
        "upload,url",
        "--images",
        "640x480",
        "--concurrency",
        "8",
        "--soak",
        "0",
        "--duration",
        str(duration),
        "--json",
        str(out),
        "--output",
        str(out.with_suffix(".md")),
    ]
    if '"--original"' in (tree / "bench" / "run.py").read_text():  # layouts need no original-design cell
        cmd.append("--no-original")
    done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if not out.exists():
        print(f"layout {layout or 'default'} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.read_text())


def headline(data: dict) -> dict:
    """The two c8 cells of one run, plus the machine's calibration."""
    cells = {c["mode"]: c for c in data["cells"] if c["connections"] == 8 and c["mode"] in ("upload", "url")}
    row = {
        "calibration": statistics.mean(data["calibration_ms"]),
        "errors": 0,
        "rss": max((m for c in data["cells"] for m in c["rss_mb"]), default=float("nan")),
    }
    for mode, cell in cells.items():
        row[f"{mode}_rps"] = cell["rps"]
        row[f"{mode}_p99"] = cell["result"]["p99_ms"]
        row[f"{mode}_cpu_ms"] = cell["cpu_ms"]
        row["errors"] += cell["errors"]
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--layout",
        action="append",
        help='env assignments, e.g. "NSFW_THREADS=8" (repeatable; "" is the default layout)',
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=8)
    args = p.parse_args()
    layouts = args.layout if args.layout is not None else list(DEFAULT_LAYOUTS)
    runs: dict[str, list[dict]] = {layout: [] for layout in layouts}
    with tempfile.TemporaryDirectory(prefix="nsfw-compare-") as tmp:
        for round_no in range(args.rounds):
            for i, layout in enumerate(layouts):
                print(f"round {round_no + 1}/{args.rounds}: {layout or 'default'}", file=sys.stderr, flush=True)
                data = run_layout(layout, args.duration, Path(tmp) / f"{round_no}-{i}.json")
                if data is not None:
                    runs[layout].append(headline(data))
    keys = ("upload_rps", "upload_p99", "upload_cpu_ms", "url_rps", "url_p99", "url_cpu_ms", "rss", "calibration")
    print(
        "| layout | upload c8 req/s | upload c8 p99 ms | upload CPU ms/req | url c8 req/s | "
        "url c8 p99 ms | url CPU ms/req | max RSS MB | calibration ms | errors | rounds |"
    )
    print("| --- " * 11 + "|")
    for layout, rows in runs.items():
        if not rows:
            print(f"| {layout or 'default'} | failed |" + " |" * 9)
            continue
        med = {k: statistics.median(r.get(k, float("nan")) for r in rows) for k in keys}
        print(
            f"| {layout or 'default'} | {med['upload_rps']:.1f} | {med['upload_p99']:.0f} | "
            f"{med['upload_cpu_ms']:.1f} | {med['url_rps']:.1f} | {med['url_p99']:.0f} | "
            f"{med['url_cpu_ms']:.1f} | {med['rss']:.0f} | {med['calibration']:.0f} | "
            f"{sum(r['errors'] for r in rows)} | {len(rows)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
