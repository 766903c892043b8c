"""Prefixed random public ids (`pay_...`, `mer_...`): database ids never leave the server."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Bytes below this (4 x 62) map onto the alphabet evenly; the rest are dropped.
_UNBIASED_LIMIT = 256 - 256 % len(_ALPHABET)


def new_public_id(prefix: str, length: int = 24) -> str:
    # One read of the system's randomness per id, not one per character (`secrets.choice`):
    # ids are minted on hot paths such as every stored webhook event.
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(
            _ALPHABET[byte % len(_ALPHABET)]
            for byte in secrets.token_bytes(length + 8)
            if byte < _UNBIASED_LIMIT
        )
    return f"{prefix}_" + "".join(chars[:length])
