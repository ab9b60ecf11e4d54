"""The floor of a request's CPU while scores stay exact, against an isolated inference (issue 22).

    .venv/bin/python bench/floor.py                      # 640x480 JPEG, 8 connections, 3 rounds
    .venv/bin/python bench/floor.py --connections 2 --rounds 5

A request to ``/predict`` cannot cost less than the work whose output the scores depend on, plus
receiving the upload and answering it over HTTP. Each round measures, minutes apart at most:

* the isolated ``invoke`` (``cpu_split.isolated_invoke_ms``: one LiteRT interpreter, one thread);
* the exact stages alone, in a fresh process with the decoder's malloc settings, thread CPU of
  each call, median of 300: ``decode`` (Pillow + libjpeg-turbo to RGB), ``to_model_input`` (the
  tfjs bilinear resize in float64, as nsfwjs computes it) and ``hash_frame`` (PDQ);
* bare HTTP: gunicorn's own gthread worker, with the service's worker and thread counts, serving
  a WSGI callable that reads the body and answers the five scores' JSON (no Flask, no hooks, no
  decoder, no model), under the same wrk load as ``cpu_split.py``; CPU of the whole gunicorn tree
  per request. Twice: flat out (thousands of requests a second, so every wake-up of a thread
  serves several), and at the service's pace (``--pace``: each request waits that many ms before
  its answer, as the service's wait for the decoder and the model, so the rate is the service's
  ~150 a second and every request pays its own wake-ups). The paced figure goes into the floor.

Their sum over the isolated inference is the lowest ratio ``cpu_split.py`` could show for this
photo with Python serving HTTP and nothing else changed; the table prints it next to the 1.35x
target. The figures are medians of the rounds (lowest-highest).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import load
import procstats
from cpu_split import PHOTO, isolated_invoke_ms
from service import ROOT, Service

sys.path.insert(0, str(ROOT))  # the service's own code: its settings, stages and decoder heap settings
from nsfw.imaging.decoder_process import MALLOC_ENV  # noqa: E402
from nsfw.settings import Settings  # noqa: E402

TARGET = 1.35
STAGES = ("decode", "preprocess", "pdq")
SCORES = b'{"drawings":0.1,"hentai":0.1,"neutral":0.6,"porn":0.1,"sexy":0.1}'


PACE_S = float(os.environ.get("FLOOR_PACE_MS") or 0) / 1000  # set for the bare service's workers only


def app(environ, start_response):  # the bare WSGI callable gunicorn serves (``floor:app``)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(min(length, 10 * 1024 * 1024))
    if PACE_S:
        time.sleep(PACE_S)  # waiting costs no CPU: only the request rate changes
    payload = SCORES if body else b'{"error":"no body"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def stage_costs(rounds: int = 300) -> dict[str, float]:
    """Thread CPU ms of each exact stage for PHOTO, medians; run in a process of its own (see main)."""
    import numpy as np

    from nsfw.imaging.decode import decode
    from nsfw.imaging.pdq import hash_frame
    from nsfw.imaging.preprocess import to_model_input

    data, settings = PHOTO.read_bytes(), Settings()
    out = np.empty((1, 224, 224, 3), np.float32)
    rgb = decode(data, settings).frames[0]
    calls = {
        "decode": lambda: decode(data, settings),
        "preprocess": lambda: to_model_input(rgb, 224, out=out),
        "pdq": lambda: hash_frame(rgb),
    }
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(rounds + 20):  # interleaved, so a slow moment of the machine hits every stage alike
        for name, call in calls.items():
            started = time.thread_time()
            call()
            if i >= 20:
                samples[name].append(time.thread_time() - started)
    return {name: 1000 * statistics.median(values) for name, values in samples.items()}


class BareService(Service):
    """gunicorn's gthread worker serving ``floor:app`` with the service's worker and thread counts."""

    ready_path = "/"

    def __init__(self, workdir: Path, workers: int, threads: int, pace_ms: float = 0.0):
        super().__init__(workdir, {"FLOOR_PACE_MS": str(pace_ms)})
        self.workers, self.threads = workers, threads

    def command(self) -> tuple[list[str], Path]:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        argv = [gunicorn, "--config", "/dev/null", "--worker-class", "gthread", "--workers", str(self.workers)]
        argv += ["--threads", str(self.threads), "--keep-alive", "5", "--bind", f"127.0.0.1:{self.port}", "floor:app"]
        return argv, Path(__file__).parent


def bare_http_ms(args, wrk: str | None, pace_ms: float = 0.0) -> tuple[float, float]:
    """CPU ms per request of the whole gunicorn tree serving the bare callable, and its req/s."""
    settings = Settings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="nsfw-floor-"))
    service = BareService(workdir, settings.workers, settings.threads, pace_ms)
    try:
        service.start()
        service.wait_ready()
        service.wait_workers(settings.workers)
        url = f"{service.base}/predict"
        common = {"mode": "upload", "body": PHOTO, "content_type": "image/jpeg", "connections": args.connections}
        load.run(wrk, url, duration=2, **common)
        time.sleep(0.5)
        pids = service.all_pids()
        before = procstats.tree_cpu_seconds(pids)
        result = load.run(wrk, url, duration=args.duration, **common)
        time.sleep(0.5)
        spent = procstats.tree_cpu_seconds(pids) - before
    finally:
        service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1000 * spent / max(1, result.requests), result.rps


def one_round(args, wrk: str | None) -> dict[str, float]:
    figures = {"isolated": isolated_invoke_ms()}
    env = {**os.environ, **MALLOC_ENV}
    out = subprocess.run(
        [sys.executable, __file__, "--stages"], env=env, check=True, capture_output=True, text=True
    ).stdout
    figures.update(json.loads(out.strip().splitlines()[-1]))
    figures["flat out"], figures["flat out req/s"] = bare_http_ms(args, wrk)
    figures["http"], figures["http req/s"] = bare_http_ms(args, wrk, args.pace)
    figures["floor"] = figures["isolated"] + sum(figures[name] for name in (*STAGES, "http"))
    figures["ratio"] = figures["floor"] / figures["isolated"]
    figures["budget"] = (TARGET - 1) * figures["isolated"]
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
    return figures


ROWS = (
    ("isolated", "isolated `invoke` (thread CPU)"),
    ("decode", "exact decode (Pillow, libjpeg-turbo)"),
    ("preprocess", "exact preprocessing (tfjs bilinear in float64)"),
    ("pdq", "PDQ hash"),
    ("flat out", "bare HTTP flat out: gunicorn gthread, read the body, answer JSON (whole tree)"),
    ("http", "bare HTTP at the service's pace (the same, each request waiting `--pace` ms)"),
    ("floor", "floor: the sum"),
    ("ratio", "**floor / isolated**"),
    ("budget", f"what {TARGET}x leaves beyond the inference"),
    ("flat out req/s", "bare HTTP req/s, flat out"),
    ("http req/s", "bare HTTP req/s, at the service's pace"),
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--duration", type=float, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pace", type=float, default=50.0, help="ms each paced bare request waits (default 50)")
    p.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--stages", action="store_true", help=argparse.SUPPRESS)  # the child process's part
    args = p.parse_args(argv)
    if args.stages:
        print(json.dumps(stage_costs()))
        return 0
    wrk = None if args.load == "python" else load.find_wrk()
    runs = []
    for round_no in range(args.rounds):
        print(f"round {round_no + 1}/{args.rounds}", flush=True)
        runs.append(one_round(args, wrk))
    print(f"640x480 JPEG upload, {args.connections} connections: CPU ms per request, median of {args.rounds} rounds")
    print("| part | median (lowest-highest) |\n| --- | --- |")
    for key, label in ROWS:
        values = sorted(run[key] for run in runs)
        unit = "x" if key == "ratio" else ""
        print(f"| {label} | {statistics.median(values):.2f}{unit} ({values[0]:.2f}-{values[-1]:.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
