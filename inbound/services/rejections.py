"""Refused webhook deliveries: counted per provider and reason, logged by reason only."""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

_REJECTION_KEY = "webhooks:rejected:{provider}:{reason}"


def webhook_rejection_record(*, provider: str, reason: str) -> None:
    """Count and log a refused delivery by reason; never the body, header or secrets."""
    logger.warning("Refused %s webhook delivery: %s", provider, reason)
    key = _REJECTION_KEY.format(provider=provider, reason=reason)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # noqa: BLE001 - a counter outage must never turn a 400 into a 500
        logger.warning("Could not count the refused %s webhook (cache unavailable)", provider)


def webhook_rejection_count(*, provider: str, reason: str) -> int:
    value = cache.get(_REJECTION_KEY.format(provider=provider, reason=reason))
    return int(value or 0)
