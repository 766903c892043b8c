"""Verify Plaid's webhook signature: the `Plaid-Verification` ES256 JWT over the raw body.

Order of checks (each refusal carries a reason code, never the header or body):
1. The JWT header is decoded *unverified*, only to pin `alg` to ES256 (so `none` and HS256
   are refused before any key is touched) and to take `kid`. Every JSON here is parsed
   strictly (`config.strict_json`): nesting, `NaN` and the like are a reason, not a crash.
2. The key for `kid`. Anyone can put any `kid` in a header, so asking Plaid is bounded:
   - keys Plaid gave us are kept per process (refreshed daily to learn an `expired_at` set at
     rotation) apart from anything an unsigned request can add, so no flood evicts them, and
     a failed or refused refresh keeps the key in use;
   - a `kid` Plaid called unknown is remembered for a minute (per process, bounded);
   - every other miss spends one of `KEY_FETCHES_PER_MINUTE` fetches, counted in the cache
     (shared by every process when it is Redis); once they are spent a new `kid` is refused
     with `key_fetch_limited` until the next minute, without asking Plaid;
   - concurrent first uses of a `kid` fetch once, under one of a fixed set of locks.
   A key whose `expired_at` has passed is refused.
3. The ES256 signature (JOSE raw r||s, converted to DER for `cryptography`).
4. `iat` within 5 minutes of our clock, then the SHA-256 of the raw body equal to the claim
   `request_body_sha256` (constant-time), then one strict parse of the body.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.cache import cache

from banking.exceptions import PlaidRequestError, PlaidUnavailableError
from banking.gateways.plaid.api import webhook_verification_key_get
from config.strict_json import JSONRefusedError, loads_strict

MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 4096
IAT_TOLERANCE_SECONDS = 300
# A cached key is asked for again after this long, to learn an `expired_at` set at rotation.
KEY_CACHE_SECONDS = 24 * 3600
UNKNOWN_KID_CACHE_SECONDS = 60
# Plaid signs with one key at a time (two during a rotation); beyond this many the key used
# least recently goes, so a key in use is the last to be dropped.
MAX_KNOWN_KEYS = 16
MAX_UNKNOWN_KIDS = 1024
# Fetches of a key we do not hold, per minute, across the processes sharing the cache.
KEY_FETCHES_PER_MINUTE = 20
KEY_FETCH_WINDOW_SECONDS = 60
_FETCH_COUNT_KEY = "plaid:webhook-key-fetches:{window}"
_FETCH_LOCK_STRIPES = 16


class Reason(StrEnum):
    MISSING_HEADER = "missing_header"
    BAD_HEADER = "bad_header"
    BAD_ALG = "bad_alg"
    UNKNOWN_KID = "unknown_kid"
    EXPIRED_KEY = "expired_key"
    KEY_UNAVAILABLE = "key_unavailable"
    KEY_FETCH_LIMITED = "key_fetch_limited"
    MISMATCH = "mismatch"
    STALE_IAT = "stale_iat"
    BODY_MISMATCH = "body_mismatch"
    BAD_JSON = "bad_json"
    TOO_DEEP = "too_deep"
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


@dataclass(frozen=True)
class _CachedKey:
    public_key: ec.EllipticCurvePublicKey
    expired_at: int | None
    fetched_at: float


_state_lock = threading.Lock()
# Only keys Plaid gave us, least recently used first.
_known: OrderedDict[str, _CachedKey] = OrderedDict()
# kid -> until when Plaid's "no such key" is believed, oldest first.
_unknown: OrderedDict[str, float] = OrderedDict()
# A fixed set: concurrent first uses of one kid share a lock, and garbage kids add none.
_fetch_locks = tuple(threading.Lock() for _ in range(_FETCH_LOCK_STRIPES))


def key_cache_clear() -> None:
    """Forget every key and unknown kid, and this minute's fetch count (tests, operators)."""
    with _state_lock:
        _known.clear()
        _unknown.clear()
    # Without the cache the count simply expires within the minute.
    with contextlib.suppress(Exception):
        cache.delete(_FETCH_COUNT_KEY.format(window=int(time.time() // KEY_FETCH_WINDOW_SECONDS)))


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError(Reason.BAD_HEADER) from exc


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = loads_strict(raw)
    except JSONRefusedError as exc:
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


def _fetch_allowed(now: float) -> bool:
    """Spend one of this minute's key fetches; False once they are spent.

    The window is part of the key, so a count that lost its expiry (Django's `incr` on Redis
    is EXISTS then INCRBY, and the key may expire between the two) is never read again.
    """
    key = _FETCH_COUNT_KEY.format(window=int(now // KEY_FETCH_WINDOW_SECONDS))
    try:
        cache.add(key, 0, timeout=2 * KEY_FETCH_WINDOW_SECONDS)
        return int(cache.incr(key)) <= KEY_FETCHES_PER_MINUTE
    except Exception as exc:  # without the shared count no fetch would be bounded
        raise WebhookVerificationError(Reason.KEY_UNAVAILABLE) from exc


def _fetch(kid: str, now: float) -> _CachedKey | None:
    """The key Plaid holds under `kid`, None when Plaid says there is none."""
    try:
        jwk = webhook_verification_key_get(key_id=kid)
    except PlaidRequestError:
        return None
    except PlaidUnavailableError as exc:
        raise WebhookVerificationError(Reason.KEY_UNAVAILABLE) from exc
    if jwk.get("kid") not in (None, kid):
        return None
    expired_at = jwk.get("expired_at")
    if not (isinstance(expired_at, int | float) and math.isfinite(expired_at)):
        expired_at = None
    return _CachedKey(
        public_key=_public_key(jwk),
        expired_at=None if expired_at is None else int(expired_at),
        fetched_at=now,
    )


def _held(kid: str, now: float) -> tuple[_CachedKey | None, bool]:
    """(the key we hold for `kid`, whether it is fresh); UNKNOWN_KID if Plaid said none."""
    with _state_lock:
        known = _known.get(kid)
        if known is not None:
            _known.move_to_end(kid)
            return known, now - known.fetched_at < KEY_CACHE_SECONDS
        until = _unknown.get(kid)
        if until is not None and now < until:
            raise WebhookVerificationError(Reason.UNKNOWN_KID)
    return None, False


def _remember(kid: str, key: _CachedKey | None, now: float) -> None:
    with _state_lock:
        if key is None:
            _known.pop(kid, None)
            _unknown[kid] = now + UNKNOWN_KID_CACHE_SECONDS
            _unknown.move_to_end(kid)
            while len(_unknown) > MAX_UNKNOWN_KIDS:
                _unknown.popitem(last=False)
            return
        _unknown.pop(kid, None)
        _known[kid] = key
        _known.move_to_end(kid)
        while len(_known) > MAX_KNOWN_KEYS:
            _known.popitem(last=False)


def _key_for(kid: str, now: float) -> _CachedKey:
    held, fresh = _held(kid, now)
    if held is not None and fresh:
        return held
    # One fetch per kid: concurrent first uses wait here and then find the answer.
    with _fetch_locks[zlib.crc32(kid.encode("utf-8", "replace")) % _FETCH_LOCK_STRIPES]:
        held, fresh = _held(kid, now)
        if held is not None and fresh:
            return held
        try:
            if not _fetch_allowed(now):
                raise WebhookVerificationError(Reason.KEY_FETCH_LIMITED)
            fetched = _fetch(kid, now)
        except WebhookVerificationError:
            if held is not None:
                return held  # a key in use outlives a refresh that could not happen
            raise
        _remember(kid, fetched, now)
    if fetched is None:
        raise WebhookVerificationError(Reason.UNKNOWN_KID)
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
    if not (
        isinstance(claimed, str)
        and claimed.isascii()
        and hmac.compare_digest(digest, claimed.lower())
    ):
        raise WebhookVerificationError(Reason.BODY_MISMATCH)

    try:
        payload = loads_strict(body)
    except JSONRefusedError as exc:
        reason = Reason.TOO_DEEP if exc.too_deep else Reason.BAD_JSON
        raise WebhookVerificationError(reason) from exc
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
