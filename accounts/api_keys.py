"""API key secrets: generation and the keyed hash under which they are stored and looked up."""

from __future__ import annotations

import secrets

from accounts.hashing import keyed_hash

SECRET_PREFIX = "ll_sk_"  # noqa: S105 - a public marker, not a secret
PREFIX_LENGTH = len(SECRET_PREFIX) + 6


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """A keyed hash (see accounts.hashing): a stolen table alone is useless."""
    return keyed_hash(purpose="api-key-hash", value=secret)
