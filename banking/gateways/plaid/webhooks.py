"""Verify Plaid's webhook signature: the `Plaid-Verification` ES256 JWT over the raw body.

Order of checks (each refusal carries a reason code, never the header or body):
1. The JWT header is decoded *unverified*, only to pin `alg` to ES256 (so `none` and HS256
   are refused before any key is touched) and to take `kid`.
2. The key for `kid` comes from a per-process cache; a miss fetches it from Plaid
   (/webhook_verification_key/get) under a per-kid lock, so concurrent first uses of a new
   `kid` fetch once. Unknown kids are remembered briefly so garbage cannot make us call Plaid
   for every request. A key whose `expired_at` has passed is refused.
3. The ES256 signature (JOSE raw r||s, converted to DER for `cryptography`).
4. `iat` within 5 minutes of our clock, then the SHA-256 of the raw body equal to the claim
   `request_body_sha256` (constant-time), then one `json.loads`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from banking.exceptions import PlaidRequestError, PlaidUnavailableError
from banking.gateways.plaid.api import webhook_verification_key_get

MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 4096
IAT_TOLERANCE_SECONDS = 300
# A cached key is asked for again after this long, to learn an `expired_at` set at rotation.
KEY_CACHE_SECONDS = 24 * 3600
UNKNOWN_KID_CACHE_SECONDS = 60
MAX_CACHED_KIDS = 256


class Reason(StrEnum):
    MISSING_HEADER = "missing_header"
    BAD_HEADER = "bad_header"
    BAD_ALG = "bad_alg"
    UNKNOWN_KID = "unknown_kid"
    EXPIRED_KEY = "expired_key"
    KEY_UNAVAILABLE = "key_unavailable"
    MISMATCH = "mismatch"
    STALE_IAT = "stale_iat"
    BODY_MISMATCH = "body_mismatch"
    BAD_JSON = "bad_json"
    BAD_EVENT = "bad_event"
    TOO_LARGE = "too_large"


class WebhookVerificationError(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedWebhook:
    webhook_type: str
    webhook_code: str
    item_id: str
    payload: dict[str, Any]
    body_sha256: str


@dataclass
class _CachedKey:
    public_key: ec.EllipticCurvePublicKey | None  # None: Plaid says no such kid
    expired_at: int | None
    fetched_at: float


_cache: dict[str, _CachedKey] = {}
_cache_lock = threading.Lock()
_kid_locks: dict[str, threading.Lock] = {}


def key_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
        _kid_locks.clear()


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError(Reason.BAD_HEADER) from exc


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookVerificationError(Reason.BAD_HEADER) from exc
    if not isinstance(value, dict):
        raise WebhookVerificationError(Reason.BAD_HEADER)
    return value


def _public_key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise WebhookVerificationError(Reason.UNKNOWN_KID)
    x = int.from_bytes(_b64url(str(jwk.get("x") or "")), "big")
    y = int.from_bytes(_b64url(str(jwk.get("y") or "")), "big")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError as exc:
        raise WebhookVerificationError(Reason.UNKNOWN_KID) from exc


def _fresh(entry: _CachedKey | None, now: float) -> bool:
    if entry is None:
        return False
    ttl = KEY_CACHE_SECONDS if entry.public_key is not None else UNKNOWN_KID_CACHE_SECONDS
    return now - entry.fetched_at < ttl


def _fetch(kid: str, now: float) -> _CachedKey:
    try:
        jwk = webhook_verification_key_get(key_id=kid)
    except PlaidRequestError:
        return _CachedKey(public_key=None, expired_at=None, fetched_at=now)
    except PlaidUnavailableError as exc:
        raise WebhookVerificationError(Reason.KEY_UNAVAILABLE) from exc
    if jwk.get("kid") not in (None, kid):
        return _CachedKey(public_key=None, expired_at=None, fetched_at=now)
    expired_at = jwk.get("expired_at")
    return _CachedKey(
        public_key=_public_key(jwk),
        expired_at=int(expired_at) if isinstance(expired_at, int | float) else None,
        fetched_at=now,
    )


def _key_for(kid: str, now: float) -> _CachedKey:
    with _cache_lock:
        entry = _cache.get(kid)
        if _fresh(entry, now):
            return entry  # type: ignore[return-value]
        kid_lock = _kid_locks.setdefault(kid, threading.Lock())
    # One fetch per kid: the others wait here and then find the cached answer.
    with kid_lock:
        with _cache_lock:
            entry = _cache.get(kid)
            if _fresh(entry, now):
                return entry  # type: ignore[return-value]
        fetched = _fetch(kid, now)
        with _cache_lock:
            if len(_cache) >= MAX_CACHED_KIDS:
                _cache.clear()
            _cache[kid] = fetched
        return fetched


def verify_webhook(*, body: bytes, header: str | None, now: float | None = None) -> VerifiedWebhook:
    """The verified webhook, or WebhookVerificationError with the reason it was refused."""
    now = time.time() if now is None else now
    if len(body) > MAX_BODY_BYTES:
        raise WebhookVerificationError(Reason.TOO_LARGE)
    if not header:
        raise WebhookVerificationError(Reason.MISSING_HEADER)
    if len(header) > MAX_HEADER_BYTES or header.count(".") != 2:
        raise WebhookVerificationError(Reason.BAD_HEADER)
    header_b64, claims_b64, signature_b64 = header.split(".")
    jose = _json_object(_b64url(header_b64))
    if jose.get("alg") != "ES256":
        raise WebhookVerificationError(Reason.BAD_ALG)
    kid = jose.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise WebhookVerificationError(Reason.BAD_HEADER)

    key = _key_for(kid, now)
    if key.public_key is None:
        raise WebhookVerificationError(Reason.UNKNOWN_KID)
    if key.expired_at is not None and key.expired_at <= now:
        raise WebhookVerificationError(Reason.EXPIRED_KEY)

    signature = _b64url(signature_b64)
    if len(signature) != 64:
        raise WebhookVerificationError(Reason.MISMATCH)
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise WebhookVerificationError(Reason.MISMATCH) from exc

    claims = _json_object(_b64url(claims_b64))
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(now - iat) > IAT_TOLERANCE_SECONDS:
        raise WebhookVerificationError(Reason.STALE_IAT)
    digest = hashlib.sha256(body).hexdigest()
    claimed = claims.get("request_body_sha256")
    if not isinstance(claimed, str) or not hmac.compare_digest(digest, claimed.lower()):
        raise WebhookVerificationError(Reason.BODY_MISMATCH)

    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookVerificationError(Reason.BAD_JSON) from exc
    if not isinstance(payload, dict):
        raise WebhookVerificationError(Reason.BAD_EVENT)
    webhook_type, webhook_code = payload.get("webhook_type"), payload.get("webhook_code")
    item_id = payload.get("item_id") or ""
    if not (isinstance(webhook_type, str) and isinstance(webhook_code, str)) or not isinstance(
        item_id, str
    ):
        raise WebhookVerificationError(Reason.BAD_EVENT)
    if not webhook_type or not webhook_code or len(webhook_type) + len(webhook_code) > 120:
        raise WebhookVerificationError(Reason.BAD_EVENT)
    # Plaid's codes and item ids are printable ASCII; a control character (U+0000 above all)
    # could not even be stored as text.
    if not all(v.isascii() and v.isprintable() for v in (webhook_type, webhook_code, item_id)):
        raise WebhookVerificationError(Reason.BAD_EVENT)
    return VerifiedWebhook(
        webhook_type=webhook_type,
        webhook_code=webhook_code,
        item_id=item_id[:64],
        payload=payload,
        body_sha256=digest,
    )
