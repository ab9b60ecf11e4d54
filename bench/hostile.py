"""Hostile load: an attack mix against the service while a legitimate client uses it.

    .venv/bin/python bench/hostile.py                 # 30 s, every attack; writes bench/hostile-results.md
    .venv/bin/python bench/hostile.py --quick         # 8 s smoke run, fewer attackers; writes nothing
    .venv/bin/python bench/hostile.py --attacks nested_json,stalled_headers --workers 1

For ``--duration`` seconds every chosen attack loops with a fixed number of
concurrent attackers while a legitimate client asks ``GET /health`` every
0.25 s (timeout 5 s) and classifies a fresh 640x480 JPEG by URL every 0.5 s
(timeout 10 s). Attack requests have a client timeout of 30 s and are all
waited for; every socket has a hard deadline, so the run always ends. Prints
one markdown table with a PASS/FAIL per goal (issue #9). Exits 0 if every goal
passed, 1 if one failed, 2 if the service did not start. All traffic stays on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import math
import os
import random
import shlex
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import payloads
import procstats
from PIL import Image
from service import ROOT, Service, ServiceError
from static_server import StaticServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "hostile-results.md"
BASE_IMAGE = ROOT / "tests" / "data" / "images" / "astronaut_640x480.jpg"

CLIENT_TIMEOUT = 30.0  # every attack request
HEALTH_EVERY, HEALTH_TIMEOUT = 0.25, 5.0
LEGIT_EVERY, LEGIT_TIMEOUT = 0.5, 10.0
POLL_EVERY = 0.25  # process monitor

# the goals of issue #9
GOAL_HEALTH_P99 = 1.0
GOAL_LEGIT_OK, GOAL_LEGIT_P95 = 0.95, 3.0
GOAL_ATTACK_LONGEST = 20.0
GOAL_RSS_MB = 400.0
DEFAULT_DECODE_MEMORY_MB = 448  # nsfw.settings.Settings.decode_memory_mb

SCAN_BOMB_COPIES = 1800  # about 26 s of decode on the 2-core development VM (14.5 ms a copy)
SCAN_BOMB_COPIES_QUICK = 200


class Attack:
    """name -> (concurrent attackers, quick) and one line saying what it sends."""

    def __init__(self, name: str, full: int, quick: int, what: str):
        self.name, self.full, self.quick, self.what = name, full, quick, what


ATTACKS = {
    a.name: a
    for a in (
        Attack("scan_bomb", 2, 1, "progressive JPEG 4096x4096, one AC refinement scan repeated (upload)"),
        Attack("webp_bomb", 2, 1, "lossless WebP 7071x7071 of one colour, ~2 KB (upload)"),
        Attack("big_jpeg", 1, 1, "7071x7071 gradient JPEG (upload)"),
        Attack("big_png", 1, 1, "7071x7071 gradient PNG (upload)"),
        Attack("png16_interlaced", 1, 1, "7071x7071 16-bit RGB Adam7 PNG (upload)"),
        Attack("heif_grid_bomb", 2, 1, "~2 KB HEIC whose grid of tiles declares 60000x50000 (upload)"),
        Attack("big_avif", 1, 1, "6300x6300 gradient AVIF, just under the HEIF/AVIF memory limit (upload)"),
        Attack("drip_batch", 2, 1, "/v1/classify 16 URLs, each upstream drips 1 byte / 0.5 s"),
        Attack("gzip_empty", 2, 1, "?url= upstream: gzip of endless empty deflate blocks"),
        Attack("stalled_headers", 32, 8, "connections sending half a request header, then nothing"),
        Attack("slow_body", 8, 2, "upload with Content-Length 1,000,000, 16 bytes / 0.5 s"),
        Attack("nested_json", 2, 1, "/v1/classify body of 100,000 '['"),
        Attack("video_4k", 2, 1, "24 s 4K H.264 with one keyframe: decoded to the end (upload; the `video` extra)"),
    )
}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# --- sockets with a hard deadline ------------------------------------------------------------


class Reaper:
    """Every socket the harness opens, with a deadline; expired ones are shut down.

    Socket timeouts bound each operation, not a whole request, so a slow trickle
    could keep a request alive forever; the monitor calls ``reap()`` regularly
    and ``close_all()`` ends whatever is left at the end of the run.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._socks: dict[int, tuple[socket.socket, float]] = {}

    def add(self, sock: socket.socket, seconds: float) -> None:
        with self._lock:
            self._socks[id(sock)] = (sock, time.monotonic() + seconds)

    def discard(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._socks.pop(id(sock), None)

    def reap(self, everything: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            expired = [s for s, deadline in self._socks.values() if everything or deadline <= now]
        for sock in expired:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close_all(self) -> None:
        self.reap(everything=True)


REAPER = Reaper()


class Tally:
    """Outcomes of one kind of request: counts by answer, every duration, bad 5xx."""

    def __init__(self):
        self._lock = threading.Lock()
        self.answers: collections.Counter = collections.Counter()
        self.times: list[float] = []
        self.ok_times: list[float] = []
        self.bad_5xx = 0
        self.longest_answer = ""

    def add(self, answer: str, seconds: float, ok: bool = False) -> None:
        with self._lock:
            self.answers[answer] += 1
            if not self.times or seconds > max(self.times):
                self.longest_answer = answer
            self.times.append(seconds)
            if ok:
                self.ok_times.append(seconds)
            status = answer.split(" ", 1)[0]
            if status.isdigit() and int(status) >= 500 and int(status) not in (503, 504):
                self.bad_5xx += 1

    @property
    def count(self) -> int:
        return sum(self.answers.values())

    @property
    def longest(self) -> float:
        return max(self.times, default=0.0)

    def summary(self) -> str:
        return ", ".join(f"{answer} ×{n}" for answer, n in sorted(self.answers.items(), key=lambda kv: -kv[1]))


def http_request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None, timeout: float = CLIENT_TIMEOUT
) -> tuple[str, float, int | None]:
    """One request on a fresh connection: (answer, seconds, status). Never raises, never outlives ``timeout``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.connect()
        REAPER.add(conn.sock, timeout)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return describe(response.status, data), time.monotonic() - started, response.status
    except TimeoutError:
        return "timeout", time.monotonic() - started, None
    except ConnectionRefusedError:
        return "refused", time.monotonic() - started, None
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        elapsed = time.monotonic() - started
        # a socket the reaper shut down at its deadline shows up as a reset or an empty answer
        return ("timeout" if elapsed >= timeout - 0.5 else f"conn error ({type(exc).__name__})"), elapsed, None
    finally:
        REAPER.discard(conn.sock)
        conn.close()


def describe(status: int, body: bytes) -> str:
    """``413 image_too_large``: the status and, for an error, the JSON error code."""
    if status < 400:
        return str(status)
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return str(status)
    return f"{status} {code}"


def raw_status(data: bytes) -> str:
    """The status of a raw HTTP answer, ``"closed"`` for an empty one."""
    if not data:
        return "closed"
    parts = data.split(b"\r\n", 1)[0].split()
    return parts[1].decode("ascii", "replace") if len(parts) > 1 and data.startswith(b"HTTP/") else "garbage"


# --- the attacker's own upstream server (for ?url= and batch URLs) ----------------------------


class _Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        """The service hangs up on us all the time: that is expected."""


class UpstreamHandler(socketserver.BaseRequestHandler):
    GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    EMPTY_BLOCKS = b"\x00\x00\x00\xff\xff" * 13_000  # non-final empty stored blocks, 65 KB a write

    def handle(self):
        sock: socket.socket = self.request
        server = self.server
        sock.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
        deadline = time.monotonic() + server.max_connection_s
        stop = server.stop_event
        if path.startswith(b"/drip"):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.wait(0.5) and time.monotonic() < deadline:
                sock.sendall(b"\xff")
        elif path.startswith(b"/gzip"):
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Encoding: gzip\r\n"
                b"Connection: close\r\n\r\n" + self.GZIP_HEADER
            )
            sock.settimeout(1.0)
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    sock.sendall(self.EMPTY_BLOCKS)
                except TimeoutError:
                    continue  # the service is not reading right now; keep the connection
        else:
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class Upstream:
    """Loopback server for the drip and gzip attacks; every connection ends by ``max_connection_s``."""

    def __init__(self, max_connection_s: float):
        self._server = _Upstream(("127.0.0.1", 0), UpstreamHandler)
        self._server.stop_event = threading.Event()
        self._server.max_connection_s = max_connection_s
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile-upstream", daemon=True)

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{random.getrandbits(48):x}"

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.stop_event.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- attacks -----------------------------------------------------------------------------------


class Run:
    """Shared state of one run: where to send, when to stop, what was seen."""

    def __init__(self, port: int, upstream: Upstream | None, stop_at: float, quick: bool):
        self.port, self.upstream, self.stop_at, self.quick = port, upstream, stop_at, quick
        self.tallies: dict[str, Tally] = {}

    def running(self) -> bool:
        return time.monotonic() < self.stop_at


def upload_attack(body: bytes, content_type: str):
    def once(run: Run, tally: Tally) -> None:
        answer, seconds, _ = http_request(run.port, "POST", "/predict", body, {"Content-Type": content_type})
        tally.add(answer, seconds)
        if answer == "refused":
            time.sleep(0.2)

    return once


def drip_batch(run: Run, tally: Tally) -> None:
    body = json.dumps({"urls": [run.upstream.url("drip") for _ in range(16)]}).encode()
    answer, seconds, _ = http_request(run.port, "POST", "/v1/classify", body, {"Content-Type": "application/json"})
    tally.add(answer, seconds)


def gzip_empty(run: Run, tally: Tally) -> None:
    path = "/predict?url=" + quote(run.upstream.url("gzip"), safe="")
    answer, seconds, _ = http_request(run.port, "POST", path)
    tally.add(answer, seconds)


def nested_json(run: Run, tally: Tally) -> None:
    body = b"[" * 100_000
    answer, seconds, _ = http_request(run.port, "POST", "/v1/classify", body, {"Content-Type": "application/json"})
    tally.add(answer, seconds)


def _hold(run: Run, tally: Tally, first: bytes, drip: bytes | None) -> None:
    """Send ``first``, then ``drip`` every 0.5 s, until the service answers or closes, or the run ends.

    The time recorded is how long the service let the connection hang; one still
    open when the attack stops is recorded as ``open at end`` with its full age.
    """
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", run.port), timeout=5)
    except OSError as exc:
        tally.add(f"connect failed ({type(exc).__name__})", time.monotonic() - started)
        time.sleep(0.2)
        return
    REAPER.add(sock, max(1.0, run.stop_at - started) + 5)
    answer = "open at end"
    try:
        sock.sendall(first)
        sock.settimeout(0.5)
        while run.running():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                if drip is not None:
                    sock.sendall(drip)
                continue
            answer = raw_status(data)
            break
    except OSError as exc:
        answer = "reset" if isinstance(exc, ConnectionError) else f"conn error ({type(exc).__name__})"
    finally:
        REAPER.discard(sock)
        sock.close()
    tally.add(answer, time.monotonic() - started)


def stalled_headers(run: Run, tally: Tally) -> None:
    _hold(run, tally, b"POST /predict HTTP/1.1\r\nHost: x\r\n", None)


def slow_body(run: Run, tally: Tally) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n"
        b"\xff\xd8\xff\xe0"
    )
    _hold(run, tally, head, b"\x00" * 16)


def build_attacks(names: list[str], quick: bool) -> dict:
    """name -> the function doing one attack request; payloads are built here, before the service starts."""
    built = {}
    for name in names:
        started = time.perf_counter()
        if name == "scan_bomb":
            copies = SCAN_BOMB_COPIES_QUICK if quick else SCAN_BOMB_COPIES
            per_scan = payloads.scan_bomb_cost()
            body = payloads.scan_bomb_jpeg(copies)
            progress(
                f"  scan_bomb: {len(body):,} bytes, {copies} repeated scans; a direct Pillow decode here costs "
                f"{per_scan * 1000:.1f} ms a scan, so about {per_scan * copies:.1f} s per image"
            )
            built[name] = upload_attack(body, "image/jpeg")
        elif name in ("webp_bomb", "big_jpeg", "big_png", "png16_interlaced", "heif_grid_bomb", "big_avif"):
            body = getattr(payloads, name)()
            kind = {"webp_bomb": "image/webp", "big_jpeg": "image/jpeg", "heif_grid_bomb": "image/heic"}
            kind = kind.get(name, "image/avif" if name == "big_avif" else "image/png")
            size = payloads.declared_size(body)
            progress(f"  {name}: {len(body):,} bytes, {size[0]}x{size[1]} ({time.perf_counter() - started:.1f} s)")
            built[name] = upload_attack(body, kind)
        elif name == "video_4k":
            import video  # bench/video.py: the clip is made once (minutes) and cached in the temp dir

            body = video.hostile_cases(quick=False)["4K H.264, one keyframe, 24 s"]()
            progress(f"  video_4k: {len(body):,} bytes ({time.perf_counter() - started:.1f} s)")
            built[name] = upload_attack(body, "video/mp4")
        else:
            built[name] = globals()[name]
    return built


def attacker(run: Run, once, tally: Tally) -> None:
    while run.running():
        try:
            once(run, tally)
        except Exception as exc:  # a bug in the harness must not end the run silently
            tally.add(f"harness error ({type(exc).__name__}: {exc})", 0.0)
            time.sleep(0.2)


# --- the legitimate client ---------------------------------------------------------------------


def paced(run: Run, every: float, timeout: float, job) -> None:
    """Start ``job(i)`` every ``every`` s whether or not earlier ones were answered (an open-loop client).

    Each job ends within ``timeout``, so at most ``timeout / every + 1`` are ever in flight.
    """
    jobs = []
    next_at = time.monotonic()
    i = 0
    while run.running():
        thread = threading.Thread(target=job, args=(i,), name=f"{threading.current_thread().name}-{i}", daemon=True)
        thread.start()
        jobs.append(thread)
        jobs = [t for t in jobs if t.is_alive()]
        i += 1
        next_at += every
        time.sleep(max(0.0, min(next_at, run.stop_at) - time.monotonic()))
    until = time.monotonic() + timeout + 2
    for thread in jobs:
        thread.join(timeout=max(0.1, until - time.monotonic()))


def health_client(run: Run, tally: Tally) -> None:
    def check(_):
        answer, seconds, status = http_request(run.port, "GET", "/health", timeout=HEALTH_TIMEOUT)
        tally.add(answer, seconds, ok=status == 200)

    paced(run, HEALTH_EVERY, HEALTH_TIMEOUT, check)


def legit_client(run: Run, tally: Tally, urls: list[str]) -> None:
    def classify(i):
        path = "/predict?url=" + quote(urls[i % len(urls)], safe="")
        answer, seconds, status = http_request(run.port, "POST", path, timeout=LEGIT_TIMEOUT)
        tally.add(answer, seconds, ok=status == 200)

    paced(run, LEGIT_EVERY, LEGIT_TIMEOUT, classify)


def legit_images(directory: Path, count: int) -> list[str]:
    directory.mkdir()
    with Image.open(BASE_IMAGE) as image:
        base = np.asarray(image.convert("RGB"))
    seed = random.getrandbits(32)
    names = []
    for i in range(count):
        name = f"legit-{i:04d}.jpg"
        (directory / name).write_bytes(payloads.fresh_jpeg(base, seed + i))
        names.append(name)
    return names


# --- the service's processes -------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (non-zombie) process, from one pass over /proc."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            found[int(entry.name)] = int(fields[1])
    return found


class Proc:
    def __init__(self, pid: int, role: str, first_seen: float, cpu0: float):
        self.pid, self.role, self.first_seen = pid, role, first_seen
        self.cpu0, self.cpu = cpu0, cpu0
        self.hwm_kb = 0
        self.gone_at: float | None = None


class Monitor:
    """Samples the master, its workers and their children (decoders) every POLL_EVERY s."""

    def __init__(self, master: int):
        self.master = master
        self.t0 = time.monotonic()
        self.procs: dict[int, Proc] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.sample(initial=True)
        self._thread = threading.Thread(target=self._loop, name="hostile-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_EVERY):
            self.sample()
            REAPER.reap()

    def stop(self) -> None:
        """Stop sampling (after one last sample); later calls change nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.sample()

    def sample(self, initial: bool = False) -> None:
        now = time.monotonic() - self.t0
        parents = _parents()
        workers = {pid for pid, parent in parents.items() if parent == self.master}
        decoders = {pid for pid, parent in parents.items() if parent in workers}
        live = {self.master: "master", **dict.fromkeys(workers, "worker"), **dict.fromkeys(decoders, "decoder")}
        with self._lock:
            for pid, role in live.items():
                cpu = procstats.cpu_seconds([pid])
                proc = self.procs.get(pid)
                if proc is None:
                    proc = self.procs[pid] = Proc(pid, role, now, cpu if initial else 0.0)
                proc.cpu = max(proc.cpu, cpu)
                proc.hwm_kb = max(proc.hwm_kb, _status_kb(pid, "VmHWM") or 0)
            for proc in self.procs.values():
                if proc.gone_at is None and proc.pid not in live:
                    proc.gone_at = now

    def snapshot(self) -> list[Proc]:
        with self._lock:
            return list(self.procs.values())


def log_events(text: str, workers: int) -> collections.Counter:
    """gunicorn's own account of worker trouble (the shutdown at the end logs nothing counted here)."""
    events = collections.Counter()
    boots = 0
    for line in text.splitlines():
        if "WORKER TIMEOUT" in line:
            events["WORKER TIMEOUT"] += 1
        elif "was sent SIGKILL" in line or "was sent SIGTERM" in line:
            events["worker killed by the master"] += 1
        elif "Booting worker" in line:
            boots += 1
        elif line.startswith("Traceback"):
            events["traceback"] += 1
        for error in ("RecursionError", "MemoryError"):
            if line.startswith(error):
                events[error] += 1
    if boots > workers:
        events["worker restarts"] = boots - workers
    return events


# --- the run -----------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, help="seconds of attack (default 30, quick 8)")
    p.add_argument("--quick", action="store_true", help="8 s, fewer attackers, a small scan bomb; writes no file")
    p.add_argument("--attacks", help=f"comma-separated subset of: {','.join(ATTACKS)} (default all)")
    p.add_argument("--workers", type=int, help="WEB_CONCURRENCY for the service (default: its own, = cores)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra service env (repeatable)")
    p.add_argument("--output", help="write the results here (default bench/hostile-results.md for a full run)")
    p.add_argument("--append", action="store_true", help="append to --output instead of replacing it")
    p.add_argument("--title", default="", help="heading of the section written to --output")
    args = p.parse_args(argv)
    args.duration = args.duration or (8.0 if args.quick else 30.0)
    names = [n.strip() for n in (args.attacks or ",".join(ATTACKS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        p.error(f"unknown attack(s) {unknown}; choose from {', '.join(ATTACKS)}")
    args.attacks = names
    try:
        args.env = dict(item.split("=", 1) for item in args.env)
    except ValueError:
        p.error("--env needs KEY=VALUE")
    if args.workers:
        args.env["WEB_CONCURRENCY"] = str(args.workers)
    if args.output is None and not args.quick:
        args.output = str(RESULTS)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="nsfw-hostile-"))
    service = None
    threads: list[threading.Thread] = []
    monitor = None
    try:
        progress(f"building payloads for: {', '.join(args.attacks)}")
        attacks = build_attacks(args.attacks, args.quick)
        image_names = legit_images(workdir / "legit", int(args.duration / LEGIT_EVERY) + 10)
        upstream_life = args.duration + CLIENT_TIMEOUT + 10
        with StaticServer(workdir / "legit") as static, Upstream(upstream_life) as upstream:
            env = {
                "NSFW_FETCH_ALLOW_NETS": "127.0.0.1/32",
                "NSFW_FETCH_ALLOW_PORTS": f"80,443,{static.port},{upstream.port}",
                "NSFW_CACHE_SIZE": "0",
                **args.env,
            }
            service = Service(workdir, env)
            progress(f"starting `gunicorn app:app` on port {service.port} ({layout(service.env)})")
            service.start()
            ready_s = service.wait_ready()
            expected = int(service.env.get("WEB_CONCURRENCY") or procstats.cpu_count())
            workers = service.wait_workers(expected)
            progress(f"ready after {ready_s:.2f} s; workers {workers}; attacking for {args.duration:g} s")

            monitor = Monitor(service.proc.pid)
            monitor.start()
            run = Run(service.port, upstream, time.monotonic() + args.duration, args.quick)
            health, legit = Tally(), Tally()
            concurrency = {}
            for name, once in attacks.items():
                tally = run.tallies[name] = Tally()
                concurrency[name] = ATTACKS[name].quick if args.quick else ATTACKS[name].full
                for i in range(concurrency[name]):
                    threads.append(
                        threading.Thread(target=attacker, args=(run, once, tally), name=f"{name}-{i}", daemon=True)
                    )
            urls = [static.url(n) for n in image_names]
            threads.append(threading.Thread(target=health_client, args=(run, health), name="health", daemon=True))
            threads.append(threading.Thread(target=legit_client, args=(run, legit, urls), name="legit", daemon=True))
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(max(0.0, run.stop_at - time.monotonic()))
            progress("attack over; waiting for requests in flight (at most the 30 s client timeout)")
            join_until = time.monotonic() + CLIENT_TIMEOUT + 5
            for thread in threads:
                thread.join(timeout=max(0.1, join_until - time.monotonic()))
            REAPER.close_all()
            stuck = [t.name for t in threads if t.is_alive()]
            wall = time.monotonic() - started
            monitor.stop()
            procs = monitor.snapshot()
            stop_service(service)
            log_text = service.log_path.read_text(errors="replace") if service.log_path.exists() else ""
            events = log_events(log_text, expected)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: stopping the service", file=sys.stderr)
        return 130
    finally:
        REAPER.close_all()
        if monitor is not None:
            monitor.stop()
        if service is not None:
            stop_service(service)
        shutil.rmtree(workdir, ignore_errors=True)

    text, passed = report(args, run, concurrency, health, legit, procs, events, ready_s, wall, stuck)
    print(text)
    if args.output:
        save(args, argv, text)
    return 0 if passed else 1


def stop_service(service: Service, grace: float = 10.0) -> None:
    """SIGTERM and up to ``grace`` s for a graceful exit; then Service.stop() kills what is left of the group."""
    proc = service.proc
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    service.stop()


def layout(env: dict) -> str:
    keys = sorted(k for k in env if k.startswith("NSFW_") or k == "WEB_CONCURRENCY")
    return " ".join(f"{k}={env[k]}" for k in keys if k not in ("NSFW_FETCH_ALLOW_NETS", "NSFW_FETCH_ALLOW_PORTS"))


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def report(args, run, concurrency, health, legit, procs, events, ready_s, wall, stuck) -> tuple[str, bool]:
    health_ok = health.answers.get("200", 0)
    health_p99 = percentile(health.times, 99)
    legit_ok = len(legit.ok_times)
    legit_rate = legit_ok / legit.count if legit.count else 0.0
    legit_p95 = percentile(legit.times, 95)  # every attempt; a failure counts at the time it took
    longest_name, longest = max(((n, t.longest) for n, t in run.tallies.items()), key=lambda x: x[1], default=("", 0))
    bad_5xx = {n: t.bad_5xx for n, t in run.tallies.items() if t.bad_5xx}
    workers = [p for p in procs if p.role == "worker"]
    deaths = [p for p in procs if p.role in ("master", "worker") and p.gone_at is not None]
    top = max(workers, key=lambda p: p.hwm_kb, default=None)
    top_mb = top.hwm_kb * 1024 / 1e6 if top else 0.0
    # Decoder processes are held by the kernel to NSFW_DECODE_MEMORY_MB of heap; their goal is
    # that budget (read from the service's environment), reported beside the workers' 400 MB.
    decoders = [p for p in procs if p.role == "decoder"]
    top_decoder = max(decoders, key=lambda p: p.hwm_kb, default=None)
    decoder_mb = top_decoder.hwm_kb * 1024 / 1e6 if top_decoder else 0.0
    env = {**os.environ, **args.env}
    decoder_budget = float(env.get("NSFW_DECODE_MEMORY_MB", DEFAULT_DECODE_MEMORY_MB)) * 1.048576

    goals = [
        (
            "`/health`",
            f"{health_ok}/{health.count} answered 200, p99 {_s(health_p99)}",
            f"100% answered, p99 ≤ {GOAL_HEALTH_P99:g} s",
            health.count > 0 and health_ok == health.count and health_p99 is not None and health_p99 <= GOAL_HEALTH_P99,
        ),
        (
            "legit classify (fresh 640x480 JPEG by URL)",
            f"{legit_ok}/{legit.count} succeeded ({100 * legit_rate:.0f}%), p95 {_s(legit_p95)}",
            f"≥ {100 * GOAL_LEGIT_OK:.0f}% succeed, p95 ≤ {GOAL_LEGIT_P95:g} s",
            legit.count > 0 and legit_rate >= GOAL_LEGIT_OK and legit_p95 is not None and legit_p95 <= GOAL_LEGIT_P95,
        ),
        (
            "longest attack request",
            f"{longest:.1f} s ({longest_name}: {run.tallies[longest_name].longest_answer})" if longest_name else "–",
            f"≤ {GOAL_ATTACK_LONGEST:g} s",
            longest <= GOAL_ATTACK_LONGEST,
        ),
        (
            "attack 5xx other than 503/504",
            ", ".join(f"{n} ×{c}" for n, c in bad_5xx.items()) or "none",
            "none",
            not bad_5xx,
        ),
        (
            "worker deaths",
            f"{len(deaths)}" + (f" (pids {', '.join(str(p.pid) for p in deaths)})" if deaths else ""),
            "0",
            not deaths,
        ),
        (
            "peak RSS (VmHWM) per worker",
            f"{top_mb:.0f} MB (worker {top.pid})" if top else "–",
            f"≤ {GOAL_RSS_MB:g} MB",
            top is not None and top_mb <= GOAL_RSS_MB,
        ),
        (
            "peak RSS (VmHWM) per decoder process",
            f"{decoder_mb:.0f} MB (decoder {top_decoder.pid})" if top_decoder else "– (none)",
            f"≤ {decoder_budget:.0f} MB (NSFW_DECODE_MEMORY_MB)",
            decoder_mb <= decoder_budget,
        ),
    ]
    passed = all(g[3] for g in goals)
    lines = ["| goal | measured | target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {what} | {got} | {target} | {verdict(ok)} |" for what, got, target, ok in goals]
    lines += ["", f"Overall: {'PASS' if passed else '**FAIL**'}", ""]

    lines += ["| attack | attackers | requests | answers | longest | 5xx other than 503/504 |"]
    lines += ["| --- | --- | --- | --- | --- | --- |"]
    for name, tally in run.tallies.items():
        lines.append(
            f"| {name} | {concurrency[name]} | {tally.count} | {tally.summary() or '–'} | "
            f"{tally.longest:.1f} s | {tally.bad_5xx} |"
        )
    for label, tally in (("legit `/health`", health), ("legit classify", legit)):
        lines.append(f"| {label} | 1 | {tally.count} | {tally.summary() or '–'} | {tally.longest:.2f} s | – |")
    lines.append("")

    cpu_total = sum(max(0.0, p.cpu - p.cpu0) for p in procs)
    lines += ["| process | pid | peak RSS (VmHWM) | CPU during the run | fate |", "| --- | --- | --- | --- | --- |"]
    for p in sorted(procs, key=lambda p: ({"master": 0, "worker": 1, "decoder": 2}[p.role], p.first_seen)):
        fate = "alive" if p.gone_at is None else f"gone at {p.gone_at:.1f} s"
        if p.first_seen > 0.5:
            fate = f"started at {p.first_seen:.1f} s, {fate}"
        lines.append(
            f"| {p.role} | {p.pid} | {p.hwm_kb * 1024 / 1e6:.0f} MB | {max(0.0, p.cpu - p.cpu0):.1f} s | {fate} |"
        )
    lines += [
        "",
        f"Service CPU during the run: {cpu_total:.1f} s over {wall:.1f} s of wall time "
        f"({100 * cpu_total / (wall * procstats.cpu_count()):.0f}% of {procstats.cpu_count()} cores); "
        f"{len(workers)} worker process(es) seen; decoders: "
        f"{sum(1 for p in procs if p.role == 'decoder') or 'none'}; first `/ready` after {ready_s:.2f} s.",
        "gunicorn log: " + (", ".join(f"{k} ×{v}" for k, v in sorted(events.items())) or "nothing notable") + ".",
    ]
    if stuck:
        lines.append(f"Harness threads still running at the end (abandoned): {', '.join(stuck)}.")
    return "\n".join(lines), passed


def save(args, argv, text: str) -> None:
    command = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/hostile.py", *(sys.argv[1:] if argv is None else argv)]
    )
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    attacks = "\n".join(
        f"| {name} | {ATTACKS[name].quick if args.quick else ATTACKS[name].full} | {ATTACKS[name].what} |"
        for name in args.attacks
    )
    section = "\n".join(
        [
            f"## {args.title or 'Hostile load'}",
            "",
            f"`{command}` — {time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit}, "
            f"{procstats.cpu_count()} cores ({procstats.cpu_model()}), "
            f"layout: {layout({**os.environ, **args.env}) or 'defaults'}, "
            f"{args.duration:g} s of attack.",
            "",
            "Legit client: `GET /health` every 0.25 s (timeout 5 s) and `POST /predict?url=` of a fresh "
            "640x480 JPEG every 0.5 s (timeout 10 s). Attack requests: client timeout 30 s; for "
            "`stalled_headers` and `slow_body` the time is how long the service let the connection hang "
            "(`open at end` = still hanging when the attack stopped).",
            "",
            text,
            "",
            "<details><summary>attacks</summary>",
            "",
            "| attack | attackers | what |",
            "| --- | --- | --- |",
            attacks,
            "",
            "</details>",
            "",
        ]
    )
    path = Path(args.output)
    if args.append and path.exists():
        path.write_text(path.read_text().rstrip("\n") + "\n\n" + section)
    else:
        path.write_text("# Hostile load results (`bench/hostile.py`)\n\n" + section)
    progress(f"wrote {args.output}")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    sys.exit(main())
