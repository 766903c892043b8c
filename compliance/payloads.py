"""Validation and scrubbing of audit payloads: small, canonical JSON with no secrets or card data.

Structural mistakes (a float, an object that is not JSON, a payload too big) raise
`AuditPayloadError`: they are programming errors that tests catch. Sensitive content is masked
instead of refused, so a careless key never fails a refund: values under keys that name a
secret (password, token, card, ...) become "[redacted]", and every string goes through
`config.logging.mask_sensitive` (card numbers, API keys) and loses email addresses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import rfc8785

from config.logging import mask_sensitive

MAX_PAYLOAD_BYTES = 4096
MAX_STRING_LENGTH = 512
MAX_DEPTH = 4
# I-JSON (RFC 7493) integers: exactly representable everywhere, as RFC 8785 requires.
MAX_SAFE_INTEGER = 2**53 - 1
REDACTED = "[redacted]"

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_EMAIL = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[A-Za-z]{2,}")
# Key words that name a secret or card data; matched against the key's parts.
_SENSITIVE_PARTS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "card",
        "pan",
        "cvc",
        "cvv",
        "cvv2",
        "pin",
        "authorization",
        "credential",
        "credentials",
        "apikey",
        "otp",
        "iban",
        "ssn",
    }
)
_SENSITIVE_SUBSTRINGS = ("password", "secret", "token", "api_key", "apikey", "card_number")
# Card facts a payment flow may keep (PCI DSS 3.4 allows brand, last 4 and expiry).
_ALLOWED_CARD_KEYS = frozenset({"card_brand", "card_last4", "card_exp_month", "card_exp_year"})


class AuditPayloadError(ValueError):
    """The payload cannot be recorded as given (a programming error in the caller)."""


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    if lowered in _ALLOWED_CARD_KEYS:
        return False
    if any(fragment in lowered for fragment in _SENSITIVE_SUBSTRINGS):
        return True
    return any(part in _SENSITIVE_PARTS for part in re.split(r"[_.:-]", lowered))


def scrub_text(value: str) -> str:
    """Mask card numbers, keys, tokens and email addresses in a free-text value."""
    return _EMAIL.sub("[email-redacted]", mask_sensitive(value))


def _clean(value: Any, *, depth: int, path: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise AuditPayloadError(f"{path}: integer outside the I-JSON range; send a string")
        return value
    if isinstance(value, float):
        raise AuditPayloadError(f"{path}: floats are not recorded; use integer minor units")
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise AuditPayloadError(f"{path}: string longer than {MAX_STRING_LENGTH} characters")
        if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
            raise AuditPayloadError(f"{path}: lone surrogate in string")
        return scrub_text(value)
    if depth >= MAX_DEPTH:
        raise AuditPayloadError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY.match(key):
                raise AuditPayloadError(
                    f"{path}: key {key!r} must be 1-64 ASCII letters, digits or _.:-"
                )
            child = f"{path}.{key}"
            cleaned[key] = (
                REDACTED if _is_sensitive_key(key) else _clean(item, depth=depth + 1, path=child)
            )
        return cleaned
    if isinstance(value, list | tuple):
        return [_clean(item, depth=depth + 1, path=f"{path}[{i}]") for i, item in enumerate(value)]
    raise AuditPayloadError(f"{path}: {type(value).__name__} is not JSON; pass ids and strings")


def clean_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """A scrubbed copy of `payload`, or AuditPayloadError when it cannot be recorded."""
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise AuditPayloadError("payload must be a mapping")
    cleaned: dict[str, Any] = _clean(payload, depth=0, path="payload")
    size = len(rfc8785.dumps(cleaned))
    if size > MAX_PAYLOAD_BYTES:
        raise AuditPayloadError(f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return cleaned
