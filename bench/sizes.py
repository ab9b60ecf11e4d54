"""CPU per request against image size, exact and with NSFW_FAST_DECODE=1 (issue 10, "Large photos").

    .venv/bin/python bench/sizes.py            # about 3 minutes; writes bench/sizes-results.md
    .venv/bin/python bench/sizes.py --quick    # 3 requests per image, 0.3 and 12 MP only; writes nothing

Starts the service as deployed (``gunicorn app:app``, one worker so that one process tree
does all the work, the cache off), uploads each image (built by bench/payloads.py, the
same bytes every run) ``--requests`` times one after the other, and reads the CPU time of
the whole service over them: the gunicorn master, the worker AND its decoder processes
(which decode and preprocess; bench/run.py's CPU columns count the master and workers
only). Then the same with ``NSFW_FAST_DECODE=1``. One request at a time: this measures
cost, not throughput. Prints one markdown table: megapixels, bytes, service CPU ms per
request (median of per-request figures is not available from /proc, so the mean over the
run), the median Server-Timing decode and preprocess, and fast mode's speed-up.

A 48 MP (8000x6000) photo is just under the default pixel cap (50.3 MP, from
NSFW_DECODE_MEMORY_MB=448); ``--env`` passes anything else, e.g. a larger budget.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import payloads
import procstats
from service import Service, ServiceError

HERE = Path(__file__).resolve().parent
TIMING = re.compile(r"([\w-]+)\s*;\s*dur=([\d.]+)")
# key -> (label, content type, builder)
IMAGES = {
    "0.3mp": ("640x480 JPEG", "image/jpeg", lambda: payloads.photo_jpeg(640, 480)),
    "2mp": ("1632x1224 JPEG", "image/jpeg", lambda: payloads.photo_jpeg(1632, 1224)),
    "screenshot": ("1920x1080 PNG screenshot", "image/png", payloads.screenshot_png),
    "12mp": ("4000x3000 JPEG", "image/jpeg", payloads.photo_12mp_jpeg),
    "48mp": ("8000x6000 JPEG", "image/jpeg", lambda: payloads.photo_jpeg(8000, 6000)),
    "heic12mp": ("4032x3024 HEIC", "image/heic", lambda: payloads.photo_heic(4032, 3024)),
    "avif12mp": ("4032x3024 AVIF", "image/avif", lambda: payloads.photo_avif(4032, 3024)),
}
SIZE = re.compile(r"(\d+)x(\d+)")


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (gunicorn's workers and their decoder processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += procstats.children(current)
    return found


def settled(pid: int, quiet_s: float = 0.5, timeout_s: float = 30.0) -> list[int]:
    """``descendants(pid)`` once it has not changed for ``quiet_s``: a decoder still starting (on a busy
    machine, after the warm-up requests were served by another) runs short-lived helpers of its own,
    such as the ``ldconfig`` that ctypes' library lookup spawns, which must not read as a replacement."""
    deadline = time.monotonic() + timeout_s
    found, since = descendants(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = descendants(pid)
        if now != found:
            found, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return found


def post(port: int, body: bytes, content_type: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/predict", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        text = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {text[:300]!r}")
        return {k: float(v) for k, v in TIMING.findall(response.getheader("Server-Timing") or "")}
    finally:
        conn.close()


def measure(service: Service, body: bytes, content_type: str, requests: int) -> dict:
    for _ in range(2):  # warm: decoders started, the heap grown to this size
        post(service.port, body, content_type)
    pids = settled(service.proc.pid)
    cpu0 = procstats.cpu_seconds(pids)
    timings = [post(service.port, body, content_type) for _ in range(requests)]
    if descendants(service.proc.pid) != pids:
        raise RuntimeError("a process of the service was replaced during the run (a decoder killed?)")
    cpu = procstats.cpu_seconds(pids) - cpu0
    return {
        "cpu_ms": 1000 * cpu / requests,
        "decode_ms": statistics.median(t.get("decode", 0.0) for t in timings),
        "preprocess_ms": statistics.median(t.get("preprocess", 0.0) for t in timings),
    }


def run_mode(workdir: Path, env: dict, bodies: dict, requests: int) -> dict:
    service = Service(workdir, {"WEB_CONCURRENCY": "1", **env})
    try:
        service.start()
        service.wait_ready(timeout=120)
        results = {}
        for key, (body, content_type) in bodies.items():
            results[key] = measure(service, body, content_type, requests)
            r = results[key]
            progress(
                f"  {key:<11} {r['cpu_ms']:8.1f} ms CPU/request  decode {r['decode_ms']:7.1f}  "
                f"preprocess {r['preprocess_ms']:6.1f}"
            )
        return results
    finally:
        service.stop()


def table(labels: dict, bodies: dict, exact: dict, fast: dict) -> str:
    rows = [
        "| image | MP | bytes | CPU ms/request, exact | decode ms | preprocess ms "
        "| CPU ms/request, NSFW_FAST_DECODE=1 | decode ms | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in labels.items():
        width, height = (int(v) for v in SIZE.search(label).groups())
        e, f = exact[key], fast[key]
        rows.append(
            f"| {label} | {width * height / 1e6:.1f} | {len(bodies[key][0]):,} | {e['cpu_ms']:.1f} "
            f"| {e['decode_ms']:.1f} | {e['preprocess_ms']:.1f} | {f['cpu_ms']:.1f} | {f['decode_ms']:.1f} "
            f"| {e['cpu_ms'] / f['cpu_ms']:.2f}x |"
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 requests per image, 0.3 and 12 MP only; writes nothing")
    p.add_argument("--requests", type=int, help="requests per image and mode (default 20; quick 3)")
    p.add_argument("--images", help=f"comma-separated: {','.join(IMAGES)} (default all; quick 0.3mp,12mp)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra service environment")
    p.add_argument("--output", help="write the table here (default bench/sizes-results.md; not with --quick)")
    args = p.parse_args(argv)
    requests = args.requests or (3 if args.quick else 20)
    keys = [k.strip() for k in (args.images or ("0.3mp,12mp" if args.quick else ",".join(IMAGES))).split(",")]
    if bad := [k for k in keys if k not in IMAGES]:
        p.error(f"unknown images {bad}; choose from {', '.join(IMAGES)}")
    env = dict(item.split("=", 1) for item in args.env)
    output = args.output or (None if args.quick else str(HERE / "sizes-results.md"))

    progress("building the images (seeded; the HEIC takes x265 a while)")
    bodies = {key: (IMAGES[key][2](), IMAGES[key][1]) for key in keys}
    labels = {key: IMAGES[key][0] for key in keys}
    calibration = procstats.calibrate()
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="nsfw-sizes-"))
    try:
        progress("exact (the default)")
        exact = run_mode(workdir, env, bodies, requests)
        progress("NSFW_FAST_DECODE=1")
        fast = run_mode(workdir, {**env, "NSFW_FAST_DECODE": "1"}, bodies, requests)
    except (ServiceError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = table(labels, bodies, exact, fast)
    print(text)
    if output:
        command = " ".join([".venv/bin/python bench/sizes.py", *(sys.argv[1:] if argv is None else argv)])
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        notes = (
            f"`{command}`",
            f"{procstats.cpu_count()} cores, {procstats.cpu_model()}; {when}; "
            f"calibration {calibration:.1f} ms (bench/run.py's: lower is faster); load average "
            f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after.",
            f"One gunicorn worker, cache off, {requests} uploads per image after 2 warm-up requests, one at a "
            "time. CPU = utime+stime of the master, the worker and its decoder processes over those requests, "
            "per request (HTTP, decode, preprocess, inference: inference is about 8-10 ms of it whatever the "
            "size). decode and preprocess: median Server-Timing. Fast mode decodes JPEGs at a reduced DCT "
            "scale (at least 2x the model's 224 px on both sides); the other formats have no reduced decode, "
            "so their rows should not move.",
        )
        Path(output).write_text("# CPU per request by image size\n\n" + "\n\n".join(notes) + "\n\n" + text + "\n")
        progress(f"wrote {output}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
