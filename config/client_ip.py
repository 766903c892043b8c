"""The client's IP address as seen through a known number of trusted reverse proxies.

X-Forwarded-For is client-controlled except for the entries our own proxies append, so we
take the address exactly TRUSTED_PROXY_COUNT hops from the right; anything further left is
whatever the client chose to send and must never be trusted (it would let an attacker rotate
fake IPs past the per-IP lockout).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip_from_request(request: HttpRequest) -> str:
    remote = _valid_ip(request.META.get("REMOTE_ADDR", "")) or "0.0.0.0"  # noqa: S104
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
    if len(forwarded) < proxies:
        return remote
    return _valid_ip(forwarded[-proxies]) or remote
