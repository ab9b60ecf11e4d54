"""How many CPUs this process may use: the default number of gunicorn workers and CLI jobs."""

from __future__ import annotations

import math
import os


def cpu_count(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity, capped by the container's CPU quota (cgroup).

    A container limited to 1 CPU on a 64-core host sees 64 CPUs in its affinity; sizing
    WEB_CONCURRENCY from that starts 64 workers of about 100 MB each. The quota is the
    limit that counts, rounded up (1.5 CPUs run 2 workers).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota in CPUs from cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``; None when unlimited."""

    def read(*parts: str) -> list[str] | None:
        try:
            with open(os.path.join(root, *parts)) as fh:
                return fh.read().split()
        except (OSError, UnicodeDecodeError):
            return None

    try:
        v2 = read("cpu.max")  # "max 100000" or "150000 100000"
        if v2 is not None:
            quota, period = (v2 + ["100000"])[:2]
            return None if quota == "max" else int(quota) / int(period)
        for directory in ("cpu,cpuacct", "cpu"):  # v1, as the controller is mounted
            v1_quota, v1_period = read(directory, "cpu.cfs_quota_us"), read(directory, "cpu.cfs_period_us")
            if v1_quota and v1_period:
                return None if int(v1_quota[0]) <= 0 else int(v1_quota[0]) / int(v1_period[0])
    except (ValueError, ZeroDivisionError):
        return None
    return None
