"""The request thread's CPU per /predict upload, in process: the web layer alone, and what its parts cost.

    .venv/bin/python bench/web_cpu.py                      # this tree, 5 rounds of 1500 requests per case
    .venv/bin/python bench/web_cpu.py --tree /tmp/before   # and another checkout, interleaved round by round

``cpu_split.py`` counts the request threads under gunicorn to about a tenth of a millisecond on a
shared VM; a change of a few tens of microseconds in Flask or the hooks drowns in that. Here Flask's
``wsgi_app`` is called directly, in this process, with the 640x480 JPEG as a raw ``image/jpeg`` body
(what the bench uploads), the cache off, multiprocess metrics (as under gunicorn) and the JSON request
line written to /dev/null, and the thread CPU of each request is taken (median). Cases:

- ``full``: the real pipeline (decoder process, inference thread); the request thread's share only.
- ``web``: the pipeline replaced by its precomputed result, so only Flask, the hooks, the metrics, the
  log line and the JSON answer run.
- ``web without log line``: the same with the ``nsfw`` logger at WARNING (what the log line costs).
- ``web without metrics``: the same with the metric writes made no-ops (what the metrics cost).
- ``bare Flask``: a Flask app that only reads the body and answers five scores with ``jsonify``: the floor
  a leaner web layer could reach without leaving Flask.

Each case of each tree runs in a fresh process; with ``--tree`` the trees alternate round by round, so
the machine's drift falls on both alike. Other jobs on a shared machine only ever add CPU time (cache
and frequency effects), so the lowest round is printed next to the median, and is the steadier figure.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nsfw.web import current

HERE = Path(__file__).resolve().parent
PHOTO = HERE.parent / "tests" / "data" / "images" / "astronaut_640x480.jpg"
CASES = ("full", "web", "web without log line", "web without metrics", "bare Flask")


def environ(body: bytes) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/predict",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "image/jpeg",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def bare_app():
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.post("/predict")
    def predict():
        request.get_data(cache=False)
        return jsonify({"drawings": 0.1, "hentai": 0.2, "neutral": 0.3, "porn": 0.3, "sexy": 0.1})

    return app, None


def service_app(tree: Path, case: str):
    sys.path.insert(0, str(tree))
    from nsfw import create_app
    from nsfw.observe import logs, metrics
    from nsfw.settings import Settings

    app = create_app(Settings().replace(cache_size=0))
    logs.configure("json", "warning" if case == "web without log line" else "info", open(os.devnull, "w"))  # noqa: SIM115
    detector = current.detector(app)
    if case != "full":
        result = detector.classify_bytes(PHOTO.read_bytes())
        detector.classify_bytes = lambda data, model=None, deadline=None: result
    if case == "web without metrics":
        for name in ("request_done", "classified"):
            setattr(metrics, name, lambda *args: None)
        metrics.INFLIGHT = type("NoGauge", (), {"inc": lambda self: None, "dec": lambda self: None})()
    return app, detector


def measure(tree: Path, case: str, requests: int) -> float:
    """Median thread CPU (ms) of one request, in this process."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nsfw-web-cpu-")
    app, detector = bare_app() if case == "bare Flask" else service_app(tree, case)
    body = PHOTO.read_bytes()
    base = environ(body)
    statuses = []

    def one():
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(body)
        out = app.wsgi_app(env, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(out)
        out.close()

    try:
        for _ in range(50):
            one()
        assert statuses[-1].startswith("200"), statuses[-1]
        samples = []
        for _ in range(requests):
            started = time.thread_time()
            one()
            samples.append(time.thread_time() - started)
    finally:
        if detector is not None:
            detector.close()
    return 1000 * statistics.median(samples)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", default=[], help="another checkout to measure alike (repeatable)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=1500, help="per case and round (the full case: a fifth)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    p.add_argument("--one", nargs=2, metavar=("TREE", "CASE"), help=argparse.SUPPRESS)  # a child process
    args = p.parse_args(argv)
    if args.one:
        logging.getLogger("nsfw").addHandler(logging.NullHandler())
        print(json.dumps(measure(Path(args.one[0]), args.one[1], args.requests)))
        return 0
    trees = [HERE.parent, *(Path(t).resolve() for t in args.tree)]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    found: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for case in cases:
            for tree in trees if case != "bare Flask" else trees[:1]:
                n = args.requests // 5 if case == "full" else args.requests
                cmd = [sys.executable, __file__, "--one", str(tree), case, "--requests", str(n)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                found.setdefault((case, str(tree)), []).append(json.loads(out.strip().splitlines()[-1]))
    print("| case | tree | lowest round | median of rounds | each round (median of its requests) |")
    print("| --- | --- | --- | --- | --- |")
    for (case, tree), values in found.items():
        rounds = " / ".join(f"{v:.3f}" for v in values)
        print(f"| {case} | {Path(tree).name} | {min(values):.3f} | {statistics.median(values):.3f} | {rounds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
