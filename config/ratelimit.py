"""A fixed-window counter in the cache, for public pages that throttle by key (link + IP).

DRF's throttles cover the API; the public payment and bank-link pages are plain views, and
they share this one counter rather than each keeping its own.
"""

from __future__ import annotations

from django.core.cache import cache


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
