"""Per-API-key rate limit: each key has its own budget, answered with 429 and Retry-After.

DRF's SimpleRateThrottle keeps a list of request times in the cache and writes it back after
each request; concurrent requests read the same list and overwrite each other's entries, so
the limit did not hold (12 clients made 6,600 requests in 42 s on a 6,000/minute key). The
count here is an atomic counter in the shared cache (config.ratelimit.sliding_window_hit).
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from config.ratelimit import sliding_window_hit


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"
    # Stripe's own live-mode budget is about 100 requests per second per account.
    rate = "6000/min"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        key_id = getattr(getattr(request, "auth", None), "public_id", None)
        if not key_id:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key_id}

    def allow_request(self, request: Any, view: Any) -> bool:
        self.retry_after: float | None = None
        key = self.get_cache_key(request, view)
        limit, window_seconds = self.parse_rate(self.rate)
        if key is None or limit is None or window_seconds is None:
            return True
        decision = sliding_window_hit(key, limit=limit, window_seconds=window_seconds)
        self.retry_after = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return self.retry_after
