"""The StripeClient factory: platform key, pinned API version, sandbox base, timeouts.

Settings are read when a client is built (never at import). Retries belong to our resilience
layer, not the SDK's, so `max_network_retries=0`.
"""

from __future__ import annotations

import threading

import stripe
from django.conf import settings

# Pinned so a library upgrade never silently changes the shape of what we parse.
API_VERSION = "2026-10-28.endive"
# Connect fast or give up (the request surely never left); reading allows for slow issuers.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 20.0

_lock = threading.Lock()
_clients: dict[tuple[str, str, float, float], stripe.StripeClient] = {}


def stripe_client() -> stripe.StripeClient:
    """One client per (key, base, timeouts): the HTTP client keeps per-thread sessions alive."""
    api_key = settings.STRIPE_SECRET_KEY
    base = settings.STRIPE_API_BASE
    cache_key = (api_key, base, CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    with _lock:
        client = _clients.get(cache_key)
        if client is None:
            client = stripe.StripeClient(
                api_key,
                stripe_version=API_VERSION,
                # Uploads (dispute evidence files) go to Stripe's files origin; the sandbox
                # serves both on one origin.
                base_addresses={"api": base, "files": base} if base else {},
                max_network_retries=0,
                http_client=stripe.RequestsClient(
                    timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
                ),
            )
            _clients[cache_key] = client
        return client


def clear_client_cache() -> None:
    """For tests that change the base address or timeouts."""
    with _lock:
        _clients.clear()
