"""Benchmark the service as deployed: one command, one table.

    .venv/bin/python bench/run.py            # full run, a few minutes; writes bench/results.md
    .venv/bin/python bench/run.py --quick    # seconds-long smoke run; writes nothing

Order: start gunicorn (time to first /ready), memory soak on the fresh
workers (so "after 1,000 requests" means exactly that), then the load matrix
(mode x image x concurrency) with CPU and RSS per cell, then a check that the
local image server had ample headroom, then (full runs, or --original) the
original design (bench/original) on URL mode, 640x480 JPEG, concurrency 8,
against the same image server, for the "ours / original" ratio. Exits
non-zero if any request failed or a worker was replaced, and stops every
process it started on every path.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shlex
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import load
import procstats
import report
from report import Cell
from service import ROOT, OriginalService, Service, ServiceError
from static_server import StaticServer

IMAGES_DIR = ROOT / "tests" / "data" / "images"
IMAGES = {  # key -> (label, file, content type)
    "640x480": ("640x480 JPEG", "astronaut_640x480.jpg", "image/jpeg"),
    "2mp": ("2 MP JPEG", "retina.jpg", "image/jpeg"),
    "png": ("PNG 451x300", "chelsea.png", "image/png"),
}
MODES = ("upload", "url")
# The original design's cell: the headline URL cell. Its requests may queue behind
# ~100 ms Keras predictions in sync workers, so its timeout is longer than ours
# (a slow answer is measured, not counted as an error).
ORIGINAL_IMAGE, ORIGINAL_CONNECTIONS, ORIGINAL_TIMEOUT = "640x480", 8, "10s"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s cells at concurrency 8, a short soak; writes no file"
    )
    p.add_argument("--duration", type=float, help="seconds per cell (default 8, quick 1)")
    p.add_argument("--concurrency", help="comma-separated keep-alive connection counts (default 1,2,8,32)")
    p.add_argument(
        "--close",
        help="comma-separated connection counts for the 640x480 JPEG cells with a new connection per request "
        "(Connection: close; default 8, none with --quick; 0 skips them)",
    )
    p.add_argument("--modes", help="comma-separated: upload,url (default both)")
    p.add_argument("--images", help=f"comma-separated: {','.join(IMAGES)} (default all)")
    p.add_argument(
        "--soak",
        help="requests after which RSS is read, FIRST,TOTAL (default 1000,10000; quick 50,200); 0 skips the soak",
    )
    p.add_argument(
        "--timeout",
        help="request timeout (default 2s; quick 10s, so that a throttled machine does not fail the smoke run)",
    )
    p.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if it is on PATH, else Python threads (default auto)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the service (repeatable); the service also "
        "inherits this shell's environment, e.g. WEB_CONCURRENCY=1",
    )
    p.add_argument("--json", help="also write the raw figures here (for comparing layouts)")
    p.add_argument(
        "--serve",
        metavar="DIR",
        help="serve another checkout (its app.py and gunicorn.conf.py, with this harness and this Python), "
        "to measure a change against it in the same run (bench/compare.py TREE=DIR)",
    )
    p.add_argument("--metrics", help="write the service's GET /metrics here at the end of the run")
    p.add_argument("--output", help="write the results here (default bench/results.md, only for a full run)")
    p.add_argument(
        "--original",
        action=argparse.BooleanOptionalAction,
        help="also measure the original design (bench/original: Flask + Keras predict under gunicorn sync "
        "workers; needs TensorFlow) on url 640x480 JPEG c8 and report ours / original "
        "(default: on in a full run, off with --quick)",
    )
    p.add_argument(
        "--original-workers",
        type=int,
        metavar="N",
        help="gunicorn sync workers of the original design (default: 2 x cores + 1, gunicorn's own advice; "
        "each holds ~0.7 GB)",
    )
    args = p.parse_args(argv)
    q = args.quick
    if args.original is None:
        args.original = not q
    # gunicorn's documented starting point for sync workers, and the fastest layout measured for
    # this design (its workers wait on the download and the file between predictions): see bench/README.md.
    args.original_workers = args.original_workers or 2 * procstats.cpu_count() + 1
    if args.original_workers < 1:
        p.error("--original-workers must be at least 1")
    args.duration = args.duration or (1 if q else 8)
    args.timeout = args.timeout or ("10s" if q else "2s")
    args.concurrency = _ints(args.concurrency or ("8" if q else "1,2,8,32"))
    args.close = [c for c in _ints(args.close or ("0" if q else "8")) if c > 0]
    args.modes = _names(args.modes, MODES)
    args.images = _names(args.images, tuple(IMAGES))
    soak = _ints(args.soak or ("50,200" if q else "1000,10000"))
    args.soak = None if soak == [0] else soak
    if args.soak and (len(args.soak) != 2 or not 0 < args.soak[0] < args.soak[1]):
        p.error("--soak needs FIRST,TOTAL with 0 < FIRST < TOTAL")
    try:
        args.env = dict(item.split("=", 1) for item in args.env)
    except ValueError:
        p.error("--env needs KEY=VALUE")
    if args.output is None and not q:
        args.output = str(Path(__file__).resolve().parent / "results.md")
    return args


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str | None, allowed: tuple) -> list[str]:
    names = [x.strip() for x in (text or ",".join(allowed)).split(",") if x.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        sys.exit(f"unknown {bad}; choose from {', '.join(allowed)}")
    return names


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    """State of one run: the service, the image server and the cells measured so far."""

    def __init__(self, args, wrk: str | None, service: Service, static: StaticServer):
        self.args, self.wrk, self.service, self.static = args, wrk, service, static
        self.cells: list[Cell] = []
        self.workers: list[int] = []
        self.problems: list[str] = []
        self.notes: list[str] = []  # lines for results.md

    def target(self, mode: str, image_key: str) -> tuple[str, Path | None, str]:
        _, name, ctype = IMAGES[image_key]
        if mode == "upload":
            return f"{self.service.base}/predict", IMAGES_DIR / name, ctype
        return f"{self.service.base}/predict?url={quote(self.static.url(name), safe='')}", None, ""

    def idle_rss(self, timeout: float = 10.0) -> list[float]:
        """Each worker's RSS once it stops changing: the model loaded, no request served yet."""
        deadline = time.monotonic() + timeout
        last: list = []
        while time.monotonic() < deadline:
            now = [procstats.rss_mb(p) or 0.0 for p in self.workers]
            if last and all(abs(a - b) < 0.5 for a, b in zip(now, last)):
                break
            last = now
            time.sleep(0.25)
        return last

    def settle(self, timeout: float = 15.0, service: Service | None = None) -> None:
        """Wait until the service (``service``, default ours) is idle again.

        When the load stops, requests it had sent are still queued in the workers and
        are processed to the end; without this the next cell would pay for them.
        """
        service = service or self.service
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            meter = procstats.CpuMeter(service.all_pids(), tree=True)
            time.sleep(0.2)
            if meter.percent() * procstats.cpu_count() < 5.0:  # < 5% of one core
                return

    def measure(
        self,
        mode: str,
        image_key: str,
        connections: int,
        *,
        quota: int = 0,
        note: str = "",
        label: str | None = None,
        close: bool = False,
    ) -> Cell:
        url, body, ctype = self.target(mode, image_key)
        self.settle()
        meter = procstats.CpuMeter(self.service.all_pids(), tree=True)  # with each worker's decoders
        per_worker = [procstats.CpuMeter([pid], tree=True) for pid in self.workers]
        machine = procstats.MachineMeter()
        duration = 900 if quota else self.args.duration
        result = load.run(
            self.wrk,
            url,
            mode=mode,
            connections=connections,
            duration=duration,
            body=body,
            content_type=ctype,
            quota=quota,
            timeout=self.args.timeout,
            close=close,
        )
        cpu = meter.percent()
        split = [m.percent() for m in per_worker]
        cpu_ms = 1000 * meter.used() / max(1, result.requests)
        other = max(0.0, machine.percent() - cpu)
        self.settle()
        workers = self.service.worker_pids()
        if workers != self.workers:
            self.problems.append(
                f"workers changed during {mode} {image_key} c{connections}: "
                f"{self.workers} -> {workers} (a worker died or was replaced)"
            )
            self.workers = workers
        rss = [m for m in (procstats.rss_mb(p) for p in workers) if m is not None]
        cell = Cell(
            label or mode, IMAGES[image_key][0], connections, result, cpu, rss, note, other, cpu_ms, split, close
        )
        if result.errors:
            self.problems.append(f"{cell.mode} {cell.image} c{connections}: {result.errors} failed requests")
        progress(
            f"  {cell.mode:<12} {cell.image:<13} c{connections:<3}{'new' if close else '   '} {result.rps:7.1f} req/s  "
            f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
            f"CPU {cpu:3.0f}% ({'/'.join(f'{w:.0f}' for w in split)}; "
            f"{cpu_ms:.1f} ms/req, other {other:2.0f}%)  "
            f"RSS {' / '.join(f'{m:.0f}' for m in rss)} MB {note}"
        )
        return cell

    def soak(self) -> tuple[Cell, Cell]:
        first, total = self.args.soak
        progress(f"memory soak: upload 640x480 JPEG, c8, RSS after {first:,} and {total:,} requests")
        a = self.measure("upload", "640x480", 8, quota=first, label="soak upload", note=f"after {first:,} req")
        b = self.measure("upload", "640x480", 8, quota=total - first, label="soak upload", note=f"after {total:,} req")
        a.note = f"after {a.result.requests:,} req"
        b.note = f"after {a.result.requests + b.result.requests:,} req"
        return a, b

    def static_capacity(self) -> Cell:
        label, name, _ = IMAGES["640x480"]
        result = load.run(
            self.wrk,
            self.static.url(name),
            mode="get",
            connections=8,
            duration=max(1, min(self.args.duration, 3)),
            timeout=self.args.timeout,
        )
        progress(f"  static server {label} c8 {result.rps:.0f} req/s")
        if result.errors:
            self.problems.append(f"static server: {result.errors} failed requests")
        return Cell("static server", label, 8, result, note="URL-mode source")

    def original(self, workdir: Path) -> Cell | None:
        """The original design (bench/original) on the headline URL cell, against the same image server.

        Run after our service has stopped, so each had the machine to itself. Its
        workers build the Keras model at start and trace ``predict`` on their first
        request, so it is warmed before the measured cell. Its log is scanned for
        tracebacks. The service is stopped on every path; a failure to start is a
        problem of the run, not a crash of the harness.
        """
        if importlib.util.find_spec("tensorflow") is None:
            message = (
                "original design skipped: TensorFlow is not installed (it runs Keras; "
                "install the dev requirements, requirements-dev.txt)"
            )
            progress(message)
            self.notes.append(message)
            return None
        label, name, _ = IMAGES[ORIGINAL_IMAGE]
        workers = self.args.original_workers
        original = OriginalService(workdir, workers)
        progress(
            f"starting the original design (bench/original/app.py, gunicorn sync, {workers} workers) "
            f"on port {original.port}"
        )
        url = f"{original.base}/predict?url={quote(self.static.url(name), safe='')}"
        try:
            original.start()
            ready_s = original.wait_ready(timeout=180)
            pids = original.wait_workers(workers, timeout=180)
            # every worker imports TensorFlow and builds the model after the first answers /health:
            # wait until they all have (idle), or the warm-up and the cell would pay for it
            self.settle(timeout=180, service=original)
            warm = 8 * workers
            load.run(self.wrk, url, mode="url", connections=8, duration=120, quota=warm, timeout="60s")
            self.settle(service=original)
            meter = procstats.CpuMeter(original.all_pids(), tree=True)
            per_worker = [procstats.CpuMeter([pid], tree=True) for pid in pids]
            machine = procstats.MachineMeter()
            result = load.run(
                self.wrk,
                url,
                mode="url",
                connections=ORIGINAL_CONNECTIONS,
                duration=self.args.duration,
                timeout=ORIGINAL_TIMEOUT,
            )
            cpu = meter.percent()
            split = [m.percent() for m in per_worker]
            cpu_ms = 1000 * meter.used() / max(1, result.requests)
            other = max(0.0, machine.percent() - cpu)
            self.settle(service=original)
            after = original.worker_pids()
            if after != pids:
                self.problems.append(f"original design: workers changed during its cell: {pids} -> {after}")
            rss = [m for m in (procstats.rss_mb(p) for p in after) if m is not None]
        except (ServiceError, RuntimeError) as exc:
            self.problems.append(f"original design: {exc}")
            return None
        finally:
            original.stop()
        if original.log_path.exists() and "Traceback" in original.log_path.read_text(errors="replace"):
            self.problems.append(f"the original design logged a traceback (see {original.log_path})")
        if result.errors:
            self.problems.append(f"original design: {result.errors} failed requests")
        self.notes.append(
            f"Original design: bench/original/app.py (Flask, requests, a temporary file, Keras load_img + "
            f"model.predict on the same weights) under `gunicorn --worker-tmp-dir /dev/shm --workers {workers}` "
            f"(sync worker), started after our service stopped; first /health after {ready_s:.1f} s; warmed with "
            f"{warm} requests; its cell has timeout {ORIGINAL_TIMEOUT}. Its ratio is ours (the url {label} c8 "
            "cell above) / its req/s."
        )
        cell = Cell(
            report.ORIGINAL_MODE,
            label,
            ORIGINAL_CONNECTIONS,
            result,
            cpu,
            rss,
            f"bench/original, {workers} sync workers",
            other,
            cpu_ms,
            split,
        )
        progress(
            f"  original     {label:<13} c{ORIGINAL_CONNECTIONS:<3} {result.rps:7.1f} req/s  "
            f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
            f"CPU {cpu:3.0f}% ({'/'.join(f'{w:.0f}' for w in split)}; {cpu_ms:.1f} ms/req, other {other:2.0f}%)"
        )
        return cell


def main(argv=None) -> int:
    args = parse_args(argv)
    wrk = None if args.load == "python" else load.find_wrk()
    if args.load == "wrk" and not wrk:
        print("error: --load wrk, but wrk is not on PATH (install it with the system package manager)", file=sys.stderr)
        return 2
    if args.load == "auto" and not wrk:
        progress(
            "wrk is not on PATH: using the Python load generator, which competes with the service for CPU; "
            "install wrk with the system package manager for the full benchmark"
        )
    progress(f"load generator: {load.describe(wrk)}")
    idle = procstats.MachineMeter()
    time.sleep(1.0)
    background = idle.percent()
    calibration = procstats.calibrate()
    progress(
        f"machine: {background:.0f}% busy before the run; calibration {calibration:.1f} ms "
        "(fixed single-core workload, lower is faster)"
    )
    if background > 10:
        progress(
            f"warning: the machine is already {background:.0f}% busy before the run; "
            "figures will be noisy (see the 'other CPU %' column)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="nsfw-bench-"))
    service = None
    keep_logs = False
    try:
        with StaticServer(IMAGES_DIR) as static:
            env = {
                "NSFW_FETCH_ALLOW_NETS": "127.0.0.1/32",
                "NSFW_FETCH_ALLOW_PORTS": f"80,443,{static.port}",
                **args.env,
            }
            service = Service(workdir, env, root=Path(args.serve).resolve() if args.serve else None)
            progress(f"starting `gunicorn app:app` on port {service.port} ({report.layout(args.env, None)})")
            service.start()
            ready_s = service.wait_ready()
            bench = Bench(args, wrk, service, static)
            expected = int(service.env.get("WEB_CONCURRENCY") or procstats.cpu_count())
            bench.workers = service.wait_workers(expected)
            idle_rss = bench.idle_rss()
            progress(
                f"first /ready after {ready_s:.2f} s; workers {bench.workers}, "
                f"idle RSS {' / '.join(f'{m:.0f}' for m in idle_rss)} MB"
            )
            soak = bench.soak() if args.soak else None
            if soak is None:  # warm every worker before measuring
                bench.measure("upload", "640x480", 8, quota=200)
            cells = list(soak or ())
            for mode in args.modes:
                for image in args.images:
                    for c in args.concurrency:
                        cells.append(bench.measure(mode, image, c))
                    if image == "640x480":  # a client without a connection pool: a new connection per request
                        for c in args.close:
                            cells.append(bench.measure(mode, image, c, close=True))
            bench.cells = cells
            cells.append(bench.static_capacity())
            if args.metrics:  # every worker's counters after the whole run (prometheus-client multiprocess)
                with urllib.request.urlopen(f"{service.base}/metrics", timeout=10) as answer:
                    Path(args.metrics).write_bytes(answer.read())
            workers_seen = len(bench.workers)
            service.stop()
            if service.log_path.exists() and "Traceback" in service.log_path.read_text(errors="replace"):
                bench.problems.append(f"the service logged a traceback (see {service.log_path})")
            if args.original:
                original = bench.original(workdir)
                if original is not None:
                    cells.append(original)
            calibration_after = procstats.calibrate()
            keep_logs = bool(bench.problems)
    except (ServiceError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        keep_logs = True
        return 2
    except KeyboardInterrupt:
        print("interrupted: stopping the service", file=sys.stderr)
        return 130
    finally:
        if service is not None:
            service.stop()
        if keep_logs:
            progress(f"the service's log is kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    table = report.table(cells, ready_s, soak, idle_rss)
    print(table)
    for problem in bench.problems:
        print(f"FAILED: {problem}")
    facts = {
        "busy_before_pct": background,
        "calibration_ms": [calibration, calibration_after],
        "workers": workers_seen,
        "ready_s": ready_s,
        "idle_rss_mb": idle_rss,
    }
    facts["load_generator"] = load.describe(wrk)
    facts["notes"] = bench.notes
    save(args, argv, table, cells, facts, bench.problems)
    return 1 if bench.problems else 0


def save(args, argv, table: str, cells: list[Cell], facts: dict, problems: list[str]) -> None:
    """results.md (--output) and the raw figures (--json), for comparing layouts."""
    if args.json:
        rows = [{**dataclasses.asdict(c), "rps": c.result.rps, "errors": c.result.errors} for c in cells]
        Path(args.json).write_text(
            json.dumps({"env": args.env, **facts, "cells": rows, "problems": problems}, indent=1)
        )
    if not args.output:
        return
    command = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)]
    )
    before, after = facts["calibration_ms"]
    notes = [
        f"Per cell: {args.duration:g} s of load from {facts['load_generator']} (timeout {args.timeout}). CPU % = the "
        "service's (master + workers) utime+stime over the cell as % of all cores, split per worker; "
        "the decoder processes below each worker count as that worker's; "
        "CPU ms/req = the same CPU time per request; other CPU % = the whole machine minus the "
        "service (the load generator, the image server, anything else running); RSS = VmRSS of each worker after "
        "the cell (MB = 10^6 bytes); stage columns = median of the service's Server-Timing.",
        f"Machine {facts['busy_before_pct']:.0f}% busy before the run; calibration {before:.1f} ms "
        f"before and {after:.1f} ms after (a fixed single-core numpy + Python workload, best of 5; "
        "it rises when the VM is throttled or its host is shared, and so does every figure here).",
        *facts["notes"],
        *(f"FAILED: {p}" for p in problems),
    ]
    layout = report.layout(args.env, facts["workers"])
    Path(args.output).write_text(report.document(table, command, layout, notes))
    progress(f"wrote {args.output}")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    sys.exit(main())
