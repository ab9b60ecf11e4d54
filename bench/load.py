"""Load generators for the benchmark: wrk when it is installed, else a small Python one.

wrk (C, epoll) is preferred because on a 2-core box a Python load generator
eats CPU the service is being measured on (the "other CPU %" column shows how
much). wrk is optional: install it with the system package manager for the
full benchmark. Without it, :func:`run` drives the service with threads over
keep-alive ``http.client`` connections, which is plenty for the smoke run and
gives the same fields. Nothing here installs anything.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import json
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

LUA = Path(__file__).resolve().parent / "bench.lua"
MARK = "@@bench "
MAX_SAMPLES = 20000  # Server-Timing headers parsed per connection (as bench.lua does per thread)
MAX_CONNECTIONS = 256  # the Python generator runs one thread per connection
MAX_SECONDS = 900.0  # no Python run lasts longer, whatever it was asked
TIMING = re.compile(r"([\w-]+)\s*;\s*dur=([\d.]+)")


def find_wrk() -> str | None:
    """Path to wrk if it is on PATH; None means the Python generator will be used."""
    return shutil.which("wrk")


def describe(wrk: str | None) -> str:
    return f"wrk ({wrk})" if wrk else "Python threads (bench/load.py)"


@dataclasses.dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int  # connect + read + write
    timeouts: int
    stages: dict  # Server-Timing stage -> median ms

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors + self.timeouts


def run(
    wrk: str | None,
    url: str,
    *,
    mode: str,
    connections: int,
    duration: float = 10,
    body: Path | None = None,
    content_type: str = "",
    quota: int = 0,
    timeout: str = "2s",
    close: bool = False,
) -> Result:
    """One load run against ``url``, with wrk if ``wrk`` is its path, else with Python threads.

    ``mode`` is ``upload`` (POST ``body`` with ``content_type``), ``url`` (POST, no
    body) or ``get``. With ``quota`` (total responses wanted) the run ends once
    that many responses came back, instead of after ``duration`` seconds. With ``close``
    every request asks for ``Connection: close``: a new connection per request.
    """
    if not wrk:
        return run_python(
            url,
            mode=mode,
            connections=connections,
            duration=duration,
            body=body,
            content_type=content_type,
            quota=quota,
            timeout=timeout,
            close=close,
        )
    threads = 1 if connections < 2 else 2
    per_thread = -(-quota // threads) if quota else 0
    seconds = max(1, round(duration))
    cmd = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        timeout,
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        mode,
        str(body or "-"),
        content_type or "-",
        str(per_thread),
        "close" if close else "keep-alive",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        errors: list[str] = []
        watcher = threading.Thread(target=_watch_quota, args=(proc, threads, errors), daemon=True)
        watcher.start()
        out = proc.stdout.read()
        proc.wait()
        watcher.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _parse(out, "".join(errors), proc.returncode, cmd)


def _watch_quota(proc: subprocess.Popen, threads: int, errors: list[str]) -> None:
    """SIGINT wrk (it then reports as usual) once every thread said it met its quota."""
    done = 0
    for line in proc.stderr:
        if line.strip() == "bench-thread-done":
            done += 1
            if done == threads and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        else:
            errors.append(line)


def _parse(out: str, err: str, returncode: int, cmd: list[str]) -> Result:
    line = next((row for row in out.splitlines() if row.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk gave no report (exit {returncode}): {' '.join(cmd)}\n{out}\n{err}")
    data = json.loads(line[len(MARK) :])
    return Result(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non2xx=data["non2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"],
        timeouts=data["timeout"],
        stages={k: v for k, v in data["stages"].items() if v >= 0},
    )


def run_python(
    url: str,
    *,
    mode: str,
    connections: int,
    duration: float = 10,
    body: Path | None = None,
    content_type: str = "",
    quota: int = 0,
    timeout: str = "2s",
    close: bool = False,
) -> Result:
    """The same run as wrk's, from one thread per connection, each on a keep-alive connection
    (with ``close``, a new connection per request).

    Only loopback URLs (the benchmark's own service and image server): this is
    a load generator, and it must not be pointed anywhere else. Bounded in time
    (``duration``, at most MAX_SECONDS, plus one request ``timeout``) and in
    connections (MAX_CONNECTIONS).
    """
    parts = urlsplit(url)
    host, port = _loopback(parts)
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be 1..{MAX_CONNECTIONS}, not {connections}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    method, payload, headers = "GET", None, {}
    if mode == "upload":
        method, payload = "POST", Path(body).read_bytes()
        headers["Content-Type"] = content_type or "application/octet-stream"
    elif mode == "url":
        method, payload = "POST", b""
    elif mode != "get":
        raise ValueError(f"unknown mode {mode!r}")
    if close:
        headers["Connection"] = "close"
    load = _PythonLoad(host, port, method, path, payload, headers, _seconds(timeout), quota, close)
    return load.run(connections, min(float(duration), MAX_SECONDS))


def _loopback(parts) -> tuple[str, int]:
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the Python load generator speaks plain http to loopback only, not {parts.geturl()!r}")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the Python load generator only targets loopback addresses, not {host!r}")
    return host, parts.port or 80


def _seconds(text: str) -> float:
    """wrk's duration syntax: ``2s``, ``500ms``, ``1m`` or a bare number of seconds."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(ms|s|m|h)?\s*", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]


def _percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * pct // 100))  # nearest rank
    return ordered[int(rank) - 1]


class _PythonLoad:
    def __init__(self, host, port, method, path, payload, headers, timeout, quota, close=False):
        self.close = close  # a new connection per request, whatever the server answers
        self.host, self.port, self.method, self.path = host, port, method, path
        self.payload, self.headers, self.timeout, self.quota = payload, headers, timeout, quota
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.responses = 0
        self.latencies: list[float] = []  # seconds, every response
        self.non2xx = self.socket_errors = self.timeouts = 0
        self.stages: dict[str, list[float]] = {}

    def run(self, connections: int, duration: float) -> Result:
        deadline = time.monotonic() + duration
        threads = [
            threading.Thread(target=self._connection, args=(deadline,), name=f"bench-load-{i}", daemon=True)
            for i in range(connections)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        ordered = sorted(self.latencies)
        return Result(
            requests=self.responses,
            seconds=seconds,
            p50_ms=1000 * _percentile(ordered, 50),
            p95_ms=1000 * _percentile(ordered, 95),
            p99_ms=1000 * _percentile(ordered, 99),
            non2xx=self.non2xx,
            socket_errors=self.socket_errors,
            timeouts=self.timeouts,
            stages={name: statistics.median(values) for name, values in self.stages.items() if values},
        )

    def _connection(self, deadline: float) -> None:
        conn = None
        latencies, stages, sampled = [], {}, 0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                began = time.perf_counter()
                try:
                    conn.request(self.method, self.path, body=self.payload, headers=self.headers)
                    response = conn.getresponse()
                    response.read()
                except TimeoutError:
                    failure = "timeouts"
                except (OSError, http.client.HTTPException):
                    failure = "socket_errors"
                else:
                    failure = None
                if failure:
                    conn.close()
                    conn = None
                    with self.lock:
                        setattr(self, failure, getattr(self, failure) + 1)
                    continue
                latencies.append(time.perf_counter() - began)
                timing = response.getheader("Server-Timing")
                if timing and sampled < MAX_SAMPLES:
                    sampled += 1
                    for name, dur in TIMING.findall(timing):
                        stages.setdefault(name, []).append(float(dur))
                if response.will_close or self.close:
                    conn.close()
                    conn = None
                with self.lock:
                    self.responses += 1
                    if not 200 <= response.status <= 299:
                        self.non2xx += 1
                    if self.quota and self.responses >= self.quota:
                        self.stop.set()
        finally:
            if conn is not None:
                conn.close()
            with self.lock:
                self.latencies.extend(latencies)
                for name, values in stages.items():
                    self.stages.setdefault(name, []).extend(values)
