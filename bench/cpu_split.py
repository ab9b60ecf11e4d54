"""Where a request's CPU goes: by process and thread of the service, against an isolated inference.

    .venv/bin/python bench/cpu_split.py                  # upload 640x480 JPEG, 2 connections, 8 s
    .venv/bin/python bench/cpu_split.py --connections 8 --env NSFW_INFERENCE_THREADS=2
    .venv/bin/python bench/cpu_split.py --connections 8 --mode url --rounds 3 --serve /tmp/before --serve .

Starts the service as ``run.py`` does (``gunicorn app:app``, the cache off), warms it, then drives
it with wrk (or the Python generator) and reads utime+stime of every thread from
``/proc/<pid>/task/<tid>/stat`` before and after: the gunicorn master, each worker's poller (its
main thread), its inference thread (``nsfw-cpu``), its request threads, and its decoder processes
(decode + preprocess + the pipe). Printed as CPU ms per request. Right before and after the load,
the same model file is run alone in this process (one LiteRT interpreter, one thread, on the
benchmark photo's tensor) and the thread CPU of one ``invoke`` is printed, so the in-service
inference can be compared with an isolated one measured minutes apart, not hours.

``--mode url`` sends ``?url=`` to the photo on a loopback image server (``static_server.py``, a
thread of this process, as in ``run.py``) instead of uploading it. ``--serve DIR`` (repeatable)
measures another checkout (its ``app.py`` and ``gunicorn.conf.py``) with this harness, as ``run.py
--serve`` does; with ``--rounds N`` each checkout gets N fresh starts, interleaved (A B, A B, ...)
because a shared machine's speed drifts, and the table gives each figure's median and range.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import load
import procstats
from service import ROOT, Service
from static_server import StaticServer

PHOTO = ROOT / "tests" / "data" / "images" / "astronaut_640x480.jpg"


def threads(master: int) -> dict[tuple[str, int], float]:
    """CPU seconds of every thread of the service, keyed by (role, tid)."""
    found = {}
    procs = [("master", master)]
    for worker in procstats.children(master):
        procs.append(("worker", worker))
        procs += [("decoders", pid) for pid in procstats.children(worker)]
    for role, pid in procs:
        try:
            tids = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
        for tid in tids:
            try:
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / procstats.CLOCK_TICKS
            role_of = role
            if role == "worker":
                role_of = "request threads"
                if tid == pid:
                    role_of = "poller (main thread)"
                elif name == "nsfw-cpu":
                    role_of = "inference thread"
            found[(role_of, tid)] = seconds
    return found


def isolated_invoke_ms(rounds: int = 200) -> float:
    """Thread CPU of one invoke of the shipped model, alone, on the benchmark photo's tensor."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from nsfw.imaging.preprocess import to_model_input

    tensor = to_model_input(np.asarray(Image.open(PHOTO).convert("RGB")), 224)
    interpreter = Interpreter(model_path=str(ROOT / "model" / "mobilenet_v2.tflite"), num_threads=1)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    samples = []
    for i in range(rounds + 10):
        started = time.thread_time()
        interpreter.set_tensor(index, tensor)
        interpreter.invoke()
        if i >= 10:
            samples.append(time.thread_time() - started)
    return 1000 * statistics.median(samples)


ROLES = ("inference thread", "decoders", "request threads", "poller (main thread)", "master")


def measure(args, tree: Path | None, env: dict[str, str], wrk: str | None) -> dict[str, float]:
    """One fresh start of ``tree`` (None: this checkout): CPU ms per request by role, req/s, isolated invoke."""
    env = dict(env)
    before = isolated_invoke_ms()
    workdir = Path(tempfile.mkdtemp(prefix="nsfw-cpu-split-"))
    static = StaticServer(PHOTO.parent)  # for --mode url; a thread of this process, idle otherwise
    env.update(NSFW_FETCH_ALLOW_NETS="127.0.0.1/32", NSFW_FETCH_ALLOW_PORTS=f"80,443,{static.port}")
    service = Service(workdir, env, root=tree.resolve() if tree else None)
    with static:
        try:
            service.start()
            service.wait_ready()
            service.wait_workers(int(env.get("WEB_CONCURRENCY") or procstats.cpu_count()))
            url = f"{service.base}/predict"
            common = {"mode": "upload", "body": PHOTO, "content_type": "image/jpeg", "connections": args.connections}
            if args.mode == "url":
                url += "?url=" + quote(static.url(PHOTO.name), safe="")
                common = {"mode": "url", "connections": args.connections}
            load.run(wrk, url, duration=2, **common)  # warm every worker and decoder
            time.sleep(1.0)
            start = threads(service.proc.pid)
            result = load.run(wrk, url, duration=args.duration, **common)
            time.sleep(1.0)  # requests still in flight finish
            end = threads(service.proc.pid)
        finally:
            service.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    after = isolated_invoke_ms()
    requests = max(1, result.requests)
    figures: dict[str, float] = defaultdict(float)
    for key, seconds in end.items():
        figures[key[0]] += 1000 * (seconds - start.get(key, 0.0)) / requests
    figures["total"] = sum(figures[role] for role in ROLES)
    figures.update({"req/s": result.rps, "requests": result.requests, "isolated": (before + after) / 2})
    figures["ratio"] = figures["total"] / figures["isolated"]
    stages = ", ".join(f"{k} {v:.2f}" for k, v in result.stages.items())
    print(
        f"  {tree or 'this checkout'}: {result.requests} requests, {result.rps:.1f} req/s; Server-Timing medians "
        f"(wall ms): {stages}; isolated invoke {before:.2f} ms before the load, {after:.2f} after",
        flush=True,
    )
    return figures


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--duration", type=float, default=8)
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--mode", choices=("upload", "url"), default="upload")
    p.add_argument(
        "--serve",
        type=Path,
        action="append",
        metavar="DIR",
        help="a checkout to measure (repeatable; default this one)",
    )
    p.add_argument("--rounds", type=int, default=1, help="fresh starts of each checkout, interleaved (median shown)")
    args = p.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    wrk = None if args.load == "python" else load.find_wrk()
    trees: list[Path | None] = list(args.serve or [None])
    runs: dict[Path | None, list[dict[str, float]]] = {tree: [] for tree in trees}
    for round_no in range(args.rounds):
        print(f"round {round_no + 1}/{args.rounds}", flush=True)
        for tree in trees:
            runs[tree].append(measure(args, tree, env, wrk))
    print(
        f"{args.mode} 640x480 JPEG, {args.connections} connections: CPU ms per request, median of {args.rounds} "
        "fresh start(s) (lowest-highest)"
    )
    print("| where | " + " | ".join(str(tree or "this checkout") for tree in trees) + " |")
    print("| --- " * (len(trees) + 1) + "|")
    for row in (*ROLES, "total", "isolated", "ratio", "req/s"):
        cells = []
        for tree in trees:
            values = [run[row] for run in runs[tree]]
            cell = f"{statistics.median(values):.2f}"
            cells.append(cell + (f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""))
        name = {"isolated": "isolated invoke (thread CPU)", "ratio": "total / isolated"}.get(row, row)
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
