"""Every rate limit of a request checked, spent and read back in Redis in one round trip.

Flask-Limiter asks its storage once per limit to spend, and once more per limit for the numbers
of the ``RateLimit-*`` headers: four round trips for ``600/minute;20/second``, each a wait on
Redis. Here one Lua script does all of it for every limit at once, with the ``limits`` library's
own sliding-window-counter arithmetic and keys (``LIMITS:{key}`` and ``LIMITS:{key}/-1``), so the
counts are the same whichever path wrote them. It is also atomic: a request refused by any of
the limits spends nothing on the others.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from limits import RateLimitItem
from limits.util import WindowStats

# KEYS: the previous and the current window's key of each limit; ARGV: the cost, then each limit's
# amount and expiry in seconds. Returns 1 (spent) or 0 (refused), then for each limit the previous
# count, its TTL (ms), the current count and its TTL (ms), after the spend.
SCRIPT = """
local cost = tonumber(ARGV[1])
local n = #KEYS / 2
local state, allowed = {}, 1
for i = 1, n do
    local previous, current = KEYS[2 * i - 1], KEYS[2 * i]
    local amount, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]) * 1000
    local current_ttl = tonumber(redis.call('pttl', current))
    if current_ttl > 0 and current_ttl < expiry then
        redis.call('rename', current, previous)
        redis.call('set', current, 0, 'PX', current_ttl + expiry)
    end
    local pc = tonumber(redis.call('get', previous)) or 0
    local pt = math.max(0, tonumber(redis.call('pttl', previous)))
    local cc = tonumber(redis.call('get', current)) or 0
    local ct = math.max(0, tonumber(redis.call('pttl', current)))
    if cost > amount or math.floor(pc * pt / expiry) + cc + cost > amount then
        allowed = 0
    end
    state[i] = {pc, pt, cc, ct}
end
if allowed == 1 then
    for i = 1, n do
        local current, expiry = KEYS[2 * i], tonumber(ARGV[2 * i + 1]) * 1000
        if redis.call('exists', current) == 1 then
            redis.call('incrby', current, cost)
        else
            redis.call('set', current, cost, 'PX', expiry * 2)
        end
        state[i][3] = state[i][3] + cost
        state[i][4] = tonumber(redis.call('pttl', current))
    end
end
local out = {allowed}
for i = 1, n do
    for j = 1, 4 do
        out[#out + 1] = state[i][j]
    end
end
return out
"""


@dataclasses.dataclass(frozen=True)
class Outcome:
    spent: bool
    windows: tuple[WindowStats, ...]  # (reset timestamp, remaining) of each limit, as limits computes them


class RedisWindows:
    """The script, registered on the limits library's own Redis client (its pool, its timeouts)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self._script = storage.storage.register_script(SCRIPT)

    def hit(self, items: list[tuple[RateLimitItem, list[str]]], cost: int) -> Outcome:
        """Spend ``cost`` on every ``(limit, identifiers)`` at once, or on none; one EVALSHA."""
        keys, args = [], [cost]
        for item, identifiers in items:
            key = item.key_for(*identifiers)
            current = self._storage.prefixed_key(f"{{{key}}}")
            keys += [f"{current}/-1", current]
            args += [item.amount, item.get_expiry()]
        reply = [int(value) for value in self._script(keys=keys, args=args)]
        now = time.time()
        windows = tuple(_stats(item, reply[1 + 4 * i : 5 + 4 * i], now) for i, (item, _) in enumerate(items))
        return Outcome(bool(reply[0]), windows)


def _stats(item: RateLimitItem, numbers: list[int], now: float) -> WindowStats:
    """``SlidingWindowCounterRateLimiter.get_window_stats``, from the numbers the script returned."""
    previous, previous_ms, current, current_ms = numbers
    expiry = item.get_expiry()
    weighted = previous * (previous_ms / 1000) / expiry + current
    remaining = max(0, item.amount - math.floor(weighted))
    if not (previous or current):
        return WindowStats(now, remaining)
    previous_reset = (previous_ms / 1000) % (expiry / previous) if previous else math.inf
    current_reset = (current_ms / 1000) % expiry if current else math.inf
    return WindowStats(now + min(previous_reset, current_reset), remaining)
