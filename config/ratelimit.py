"""Rate limits on atomic cache counters: the per-API-key budget and the public pages' limits.

Every count is one atomic increment in the cache (Redis `INCR` in production; under the lock
of the local-memory cache in the embedded default), never a read-modify-write of a stored
history, so a limit holds across threads, processes and machines sharing the cache. (A cache
whose `incr` is not atomic, such as the database or file cache, would not hold it.)
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

# Seconds since the epoch; a module attribute so that tests can hold time still.
clock = time.time


def window_hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit on `key`; True once more than `limit` hits fall in the current window."""
    # add() only creates the counter, so the window starts at the first hit and later hits do
    # not extend it.
    cache.add(key, 0, timeout=window_seconds)
    try:
        count = cache.incr(key)
    except ValueError:
        # The counter expired between add() and incr(): this hit opens a new window.
        cache.set(key, 1, timeout=window_seconds)
        count = 1
    return count > limit


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: float  # seconds until a request is likely to be allowed; 0 when allowed


def _increment(key: str, *, delta: int, timeout: int) -> int:
    try:
        return int(cache.incr(key, delta))
    except ValueError:
        # No counter yet: create it with this hit, unless a concurrent request just did.
        if cache.add(key, delta, timeout=timeout):
            return delta
        return int(cache.incr(key, delta))


def sliding_window_hit(key: str, *, limit: int, window_seconds: int) -> RateDecision:
    """Admit one request under `limit` per sliding `window_seconds`, or refuse it.

    Cloudflare's sliding-window counter: one counter per clock-aligned window, and the
    estimate `previous * (share of the sliding window still in the previous window) + current`.
    Unlike a fixed window it allows no double burst across a boundary, and it needs only two
    small counters per key. The request is counted first, atomically, and a refused one takes
    its count back: concurrent requests near the limit may all be refused, none is admitted
    beyond it.
    """
    now = clock()
    index, offset = divmod(now, window_seconds)
    current_key = f"{key}:{int(index)}"
    # Kept for two windows: while current, and as the next window's `previous`.
    current = _increment(current_key, delta=1, timeout=2 * window_seconds + 1)
    previous = int(cache.get(f"{key}:{int(index) - 1}", 0))
    remaining_share = 1 - offset / window_seconds
    if previous * remaining_share + current <= limit:
        return RateDecision(allowed=True, retry_after=0)
    with contextlib.suppress(ValueError):  # evicted meanwhile: nothing left to take back
        cache.decr(current_key)
    return RateDecision(
        allowed=False,
        retry_after=_seconds_until_allowed(
            previous=previous,
            current=current - 1,
            limit=limit,
            offset=offset,
            window_seconds=window_seconds,
        ),
    )


def _seconds_until_allowed(
    *, previous: int, current: int, limit: int, offset: float, window_seconds: int
) -> float:
    """When one more request fits, if no other arrives: solve the estimate for the time."""
    if current + 1 <= limit and previous > 0:
        # Later in this window: previous * (1 - t / W) + current + 1 <= limit.
        fits_at = window_seconds * (1 - (limit - current - 1) / previous)
        return max(1.0, math.ceil(fits_at - offset))
    # In the next window this window's count is `previous`: current * (1 - t / W) + 1 <= limit.
    fits_at = window_seconds * (1 - (limit - 1) / current) if current > limit - 1 else 0.0
    return max(1.0, math.ceil(window_seconds - offset + fits_at))
