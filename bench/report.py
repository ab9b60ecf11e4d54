"""The one results table, with each target next to the figure it judges.

Targets are fixed here, not passed in, so a run cannot quietly relax them.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess

import procstats
from load import Result

STAGES = ("fetch", "decode", "preprocess", "inference", "serialise")
LAYOUT_ENV = ("WEB_CONCURRENCY", "NSFW_THREADS", "NSFW_INTERPRETERS", "NSFW_INFERENCE_THREADS")

TARGET_UPLOAD_RPS, TARGET_UPLOAD_P99_MS = 200.0, 60.0  # upload, 640x480 JPEG, c8 (issue 10)
TARGET_URL_RPS = 130.0  # url, 640x480 JPEG, c8
TARGET_RSS_MB, TARGET_GROWTH_PCT = 150.0, 10.0  # per worker after the soak
TARGET_READY_S = 1.5  # process start -> first /ready 200
STATIC_HEADROOM = 5.0  # static server vs the service's best URL rate
TARGET_ORIGINAL_RATIO = 10.0  # ours / the original design (bench/original), url 640x480 JPEG c8, same run
ORIGINAL_MODE = "original design"
TARGET_IMAGE = "640x480 JPEG"
TARGET_SPLIT_PCT = 60.0  # no worker does more than this share of the service's work, with >= 2 connections


@dataclasses.dataclass
class Cell:
    mode: str  # "upload" | "url" | "soak upload" | "static server" | ORIGINAL_MODE
    image: str
    connections: int
    result: Result
    cpu_pct: float | None = None
    rss_mb: list = dataclasses.field(default_factory=list)
    note: str = ""  # e.g. "after 1,000 req"
    other_pct: float | None = None  # the rest of the machine: wrk, the image server, anything else
    cpu_ms: float | None = None  # service CPU per request: barely moved by other load, unlike req/s
    worker_cpu: list = dataclasses.field(default_factory=list)  # % of all cores, per worker
    close: bool = False  # a new connection per request (Connection: close), not keep-alive


def _status(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _fmt(value, digits=1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _errors(r: Result) -> str:
    if not r.errors:
        return "0"
    parts = [
        f"{n} {what}" for n, what in ((r.non2xx, "non-2xx"), (r.socket_errors, "socket"), (r.timeouts, "timeout")) if n
    ]
    return f"{r.errors} ({', '.join(parts)})"


def _target(cell: Cell, cells: list[Cell], soak: tuple | None) -> str:
    text = _cell_target(cell, cells, soak)
    share = _busiest_share(cell)
    if share is not None:
        even = f"busiest worker {share:.0f}% (≤{TARGET_SPLIT_PCT:.0f}%) {_status(share <= TARGET_SPLIT_PCT)}"
        text = f"{text}; {even}" if text else even
    return text


def _busiest_share(cell: Cell) -> float | None:
    """The busiest worker's share of the workers' CPU, for our cells with 2+ connections on 2+ workers."""
    if cell.mode not in ("upload", "url", "soak upload") or cell.connections < 2 or len(cell.worker_cpu) < 2:
        return None
    total = sum(cell.worker_cpu)
    return 100.0 * max(cell.worker_cpu) / total if total > 0 else None


def _cell_target(cell: Cell, cells: list[Cell], soak: tuple | None) -> str:
    r = cell.result
    if cell.close:
        return ""
    if cell.mode in ("upload", "url") and cell.image == TARGET_IMAGE and cell.connections == 8:
        if cell.mode == "upload":
            return (
                f"≥{TARGET_UPLOAD_RPS:.0f} req/s {_status(r.rps >= TARGET_UPLOAD_RPS)}; "
                f"p99 ≤{TARGET_UPLOAD_P99_MS:.0f} ms {_status(r.p99_ms <= TARGET_UPLOAD_P99_MS)}"
            )
        return f"≥{TARGET_URL_RPS:.0f} req/s {_status(r.rps >= TARGET_URL_RPS)}"
    if cell.mode in ("upload", "url") and cell.connections == 32:
        at8 = next(
            (c for c in cells if (c.mode, c.image, c.connections, c.close) == (cell.mode, cell.image, 8, False)), None
        )
        text = f"no errors {_status(r.errors == 0)}"
        if at8 is not None:
            text += f"; ≥ c8 ({at8.result.rps:.0f} req/s) {_status(r.rps >= at8.result.rps)}"
        return text
    if cell.mode == "soak upload" and soak is not None and cell is soak[1]:
        first, last = soak
        growth = max(_growth(a, b) for a, b in zip(first.rss_mb, last.rss_mb))
        peak = max(last.rss_mb)
        return (
            f"RSS ≤{TARGET_RSS_MB:.0f} MB {_status(peak <= TARGET_RSS_MB)}; "
            f"growth {growth:+.1f}% (<{TARGET_GROWTH_PCT:.0f}%) {_status(growth < TARGET_GROWTH_PCT)}"
        )
    if cell.mode == ORIGINAL_MODE:
        key = ("url", cell.image, cell.connections)
        ours = next((c for c in cells if (c.mode, c.image, c.connections) == key and not c.close), None)
        if ours is None:
            return f"no url {cell.image} c{cell.connections} cell of ours in this run to compare with"
        ratio = ours.result.rps / r.rps if r.rps else float("inf")
        text = (
            f"ours ({ours.result.rps:.0f} req/s) / original = {ratio:.1f}× "
            f"(≥{TARGET_ORIGINAL_RATIO:.0f}×) {_status(ratio >= TARGET_ORIGINAL_RATIO)}"
        )
        if cell.cpu_ms and ours.cpu_ms:  # the steadier figure on a shared machine: CPU per request
            text += f"; CPU ms/req original / ours = {cell.cpu_ms / ours.cpu_ms:.1f}×"
        return text
    if cell.mode == "static server":
        best = max((c.result.rps for c in cells if c.mode == "url"), default=0.0)  # new connections included
        if best:
            return (
                f"≥{STATIC_HEADROOM:.0f}× the service's best URL rate ({best:.0f} req/s) "
                f"{_status(r.rps >= STATIC_HEADROOM * best)}"
            )
    return ""


def _cpu(cell: Cell) -> str:
    if cell.cpu_pct is None:
        return ""
    text = f"{cell.cpu_pct:.0f}"
    if len(cell.worker_cpu) > 1:
        text += " (" + "/".join(f"{w:.0f}" for w in cell.worker_cpu) + ")"
    return text


def _growth(a: float, b: float) -> float:
    return 100.0 * (b - a) / a if a else 0.0


def table(cells: list[Cell], ready_s: float | None, soak: tuple | None, idle_rss: list | None = None) -> str:
    head = [
        "mode",
        "image",
        "conc",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "CPU % (per worker)",
        "CPU ms/req",
        "other CPU %",
        "RSS/worker MB",
        *(f"{s} ms" for s in STAGES),
        "target",
    ]
    rows = [head, ["---"] * len(head)]
    if ready_s is not None:
        rows.append(
            [
                "start → first /ready (RSS: idle, model loaded)",
                *([""] * 10),
                " / ".join(f"{m:.0f}" for m in idle_rss or []),
                *([""] * len(STAGES)),
                f"{ready_s:.2f} s (≤{TARGET_READY_S} s) {_status(ready_s <= TARGET_READY_S)}",
            ]
        )
    for cell in cells:
        r = cell.result
        mode = f"{cell.mode} ({cell.note})" if cell.note else cell.mode
        rows.append(
            [
                mode,
                cell.image,
                f"{cell.connections} new conn./req" if cell.close else str(cell.connections),
                f"{r.rps:.1f}",
                _fmt(r.p50_ms),
                _fmt(r.p95_ms),
                _fmt(r.p99_ms),
                _errors(r),
                _cpu(cell),
                _fmt(cell.cpu_ms, 1),
                _fmt(cell.other_pct, 0),
                " / ".join(f"{m:.0f}" for m in cell.rss_mb),
                *(_fmt(r.stages.get(s), 2) for s in STAGES),
                _target(cell, cells, soak),
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def layout(extra_env: dict, workers: int | None) -> str:
    env = {**os.environ, **extra_env}
    parts = [f"{k}={env[k]}" if env.get(k) else f"{k} unset (default)" for k in LAYOUT_ENV]
    if workers is not None:
        parts.append(f"{workers} worker processes seen")
    return ", ".join(parts)


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=os.path.dirname(os.path.abspath(__file__))
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> list[str]:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return [
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
        f"- git commit: {commit}",
        f"- machine: {procstats.cpu_count()} cores, {procstats.cpu_model()}, "
        f"Linux {platform.release()}, Python {platform.python_version()}",
    ]


def document(table_md: str, command: str, layout_text: str, notes: list[str]) -> str:
    lines = [
        "# Benchmark results",
        "",
        *machine(),
        f"- layout: {layout_text}",
        f"- command: `{command}`",
        "",
        table_md,
        "",
        *notes,
    ]
    return "\n".join(lines).rstrip() + "\n"
