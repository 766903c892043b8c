"""Keyed hashes for stored secrets (API keys, invitation tokens, backup codes).

HMAC-SHA256 under a key derived from SECRET_KEY and a per-purpose label: a stolen table alone
is useless, and a hash made for one purpose never verifies for another.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def keyed_hash(*, purpose: str, value: str) -> str:
    key = hashlib.sha256(f"ledgerline.{purpose}:".encode() + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def hashes_equal(left: str, right: str) -> bool:
    """Constant-time comparison, so response timing says nothing about how much matched."""
    return hmac.compare_digest(left.encode(), right.encode())
