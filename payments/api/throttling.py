"""Per-API-key rate limit: each key has its own budget, answered with 429 and Retry-After."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"
    # Stripe's own live-mode budget is about 100 requests per second per account.
    rate = "6000/min"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        key_id = getattr(getattr(request, "auth", None), "public_id", None)
        if not key_id:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key_id}
