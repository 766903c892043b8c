"""API key secrets: generation and the keyed hash under which they are stored and looked up."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

SECRET_PREFIX = "ll_sk_"
PREFIX_LENGTH = len(SECRET_PREFIX) + 6


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """HMAC-SHA256 keyed by a key derived from SECRET_KEY: a stolen table alone is useless."""
    key = hashlib.sha256(b"ledgerline.api-key-hash:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
