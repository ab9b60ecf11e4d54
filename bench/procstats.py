"""Process and machine facts from /proc, so the harness needs no psutil.

CPU is read as utime+stime ticks of the gunicorn master, its workers and every
process below them (each worker's decoder processes, which decode and preprocess
every image), plus what their reaped children used (cutime+cstime): a delta over a
run, divided by wall time x cores, is the service's share of the whole machine.
Memory is each worker's VmRSS.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (gunicorn workers of a master), sorted."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            # fields[0] is the state (field 3), fields[1] the parent pid (field 4)
            if fields and int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` in seconds (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat
    return total / CLOCK_TICKS


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of ``pids`` and every live process below them, plus what their reaped children used.

    A decoder a worker replaced during a measurement still counts: its time moves to the
    worker's cutime when the worker reaps it.
    """
    below: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] != "Z":
                below.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack, seen = 0, list(pids), set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        fields = _stat_fields(pid)
        if fields:
            total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime: fields 14-17 of stat
        stack.extend(below.get(pid, ()))
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (10^6 bytes), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def calibrate(rounds: int = 5) -> float:
    """Best-of-``rounds`` ms for a fixed single-core numpy + Python workload.

    Lets two result files be compared: on a shared or throttled VM this number
    rises together with every latency in the table.
    """
    import time

    import numpy as np

    a = np.arange(1 << 20, dtype=np.float64)  # element-wise numpy is single-threaded, BLAS is not
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(10):
            np.sqrt(a * 0.5 + 1.0).sum()
        sum(i * i for i in range(200_000))
        best = min(best, time.perf_counter() - t0)
    return best * 1000


class MachineMeter:
    """Busy share of the whole machine over an interval, in % of all cores."""

    def __init__(self):
        self._start = machine_ticks()

    def percent(self) -> float:
        busy, total = machine_ticks()
        d_total = total - self._start[1]
        return 100.0 * (busy - self._start[0]) / d_total if d_total > 0 else 0.0


class CpuMeter:
    """CPU share of a set of processes (and, with ``tree``, every process below them) over an interval,
    as % of all cores."""

    def __init__(self, pids: list[int], tree: bool = False):
        self.pids = list(pids)
        self._read = tree_cpu_seconds if tree else cpu_seconds
        self._cpu0 = self._read(self.pids)
        self._wall0 = os.times().elapsed

    def used(self) -> float:
        """CPU seconds used since the start."""
        return self._read(self.pids) - self._cpu0

    def percent(self) -> float:
        wall = os.times().elapsed - self._wall0
        return 100.0 * self.used() / (wall * cpu_count()) if wall > 0 else 0.0
