"""Emptying the cache between tests without touching other test processes' keys."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def clear_own_cache() -> None:
    """Empty this test process's cache.

    On Redis, `cache.clear()` is FLUSHDB: under pytest-xdist it would also wipe the other
    processes' counters and the queues of the Celery workers they started, which share the
    database (config/settings/test.py gives each process its own key prefix instead).
    """
    config = settings.CACHES["default"]
    prefix = config.get("KEY_PREFIX", "")
    if not prefix or "redis" not in config["BACKEND"].lower():
        cache.clear()
        return
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
