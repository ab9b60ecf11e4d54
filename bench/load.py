"""Drive wrk with bench.lua and turn its report into numbers.

wrk (C, epoll) is used rather than a Python client because on a 2-core box a
Python load generator would eat the CPU the service is being measured on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

LUA = Path(__file__).resolve().parent / "bench.lua"
MARK = "@@bench "


def ensure_wrk(log=print) -> str:
    """Path to wrk, installing the Debian package first if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is not on PATH: installing it with `apt-get update && apt-get install -y wrk`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}")
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get installed wrk but it is not on PATH")
    log(f"installed {found}")
    return found


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
    wrk: str,
    url: str,
    *,
    mode: str,
    connections: int,
    duration: float = 10,
    body: Path | None = None,
    content_type: str = "",
    quota: int = 0,
    timeout: str = "2s",
) -> Result:
    """One wrk run against ``url``.

    With ``quota`` (total responses wanted) the run ends once every wrk thread
    has had its share, instead of after ``duration`` seconds.
    """
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
