"""The braintree SDK's gateway objects: one per merchant's keys, on the configured environment.

Braintree has no platform key: every call is made with the merchant's own merchant id and API
keys (sealed in `payments.processor_credentials`). The environment is the sandbox's
(`BRAINTREE_API_BASE`, through the custom `braintree.Environment` of the issue's contract) or
Braintree's own (`BRAINTREE_ENVIRONMENT`). Settings are read when a gateway object is built,
never at import. Retries belong to our resilience layer; the SDK makes one request per call,
with our (connect, read) timeouts, and reports network failures as its own exceptions
(`wrap_http_exceptions=True`).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import braintree
from django.conf import settings

# Connect fast or give up (the request surely never left); reading allows for slow issuers.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Keys:
    """One Braintree merchant's API credentials (the private key never leaves this process)."""

    merchant_id: str
    public_key: str
    private_key: str

    def __repr__(self) -> str:  # never print the private key
        return f"Keys(merchant_id={self.merchant_id!r}, public_key=..., private_key=...)"


def api_origin() -> str:
    """`scheme://host[:port]` of the sandbox's Braintree, or "" for Braintree itself."""
    base = settings.BRAINTREE_API_BASE.rstrip("/")
    if not base:
        return ""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("BRAINTREE_API_BASE must be an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


def environment() -> braintree.Environment:
    """The sandbox through the contract's custom environment, else Braintree's named one."""
    origin = api_origin()
    if not origin:
        name = settings.BRAINTREE_ENVIRONMENT
        return braintree.Environment.parse_environment(name)
    parts = urlsplit(origin)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = str(parts.port or (443 if secure else 80))
    return braintree.Environment("ledgerline_sandbox", host, port, origin, secure, None, host, port)


_lock = threading.Lock()
_gateways: dict[tuple[str, str, str, str, float, float], braintree.BraintreeGateway] = {}


def sdk_gateway(keys: Keys) -> braintree.BraintreeGateway:
    """One SDK gateway per (keys, environment, timeouts): its HTTP sessions are kept alive."""
    origin = api_origin() or settings.BRAINTREE_ENVIRONMENT
    # The private key is part of the identity (new keys must not reuse an old gateway) but is
    # not kept as a dictionary key in the clear.
    secret = hashlib.sha256(keys.private_key.encode()).hexdigest()
    cache_key = (
        keys.merchant_id,
        keys.public_key,
        secret,
        origin,
        CONNECT_TIMEOUT_SECONDS,
        READ_TIMEOUT_SECONDS,
    )
    with _lock:
        gateway = _gateways.get(cache_key)
        if gateway is None:
            gateway = braintree.BraintreeGateway(
                braintree.Configuration(
                    environment=environment(),
                    merchant_id=keys.merchant_id,
                    public_key=keys.public_key,
                    private_key=keys.private_key,
                    timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
                    wrap_http_exceptions=True,
                )
            )
            _gateways[cache_key] = gateway
        return gateway


def clear_client_cache() -> None:
    """For tests that change the base address or timeouts, and after keys change."""
    with _lock:
        _gateways.clear()
