"""Stripe webhook verification: the `Stripe-Signature` header checked by hand, then one parse.

`stripe.Webhook.construct_event` builds a full SDK object and costs far more than the HMAC it
guards, so we check the signature ourselves exactly as Stripe documents it: HMAC-SHA256 over
`"<t>." + raw body` keyed by each configured `whsec_` secret (several during rotation), compared
in constant time with every `v1=` in the header, then a 300-second window around our clock in
both directions. Only a verified body is parsed, once, strictly (`config.strict_json`): a signed
body with `NaN`, `Infinity`, a number beyond a double or nesting deeper than 64 levels is not
an event Stripe sends, and could not be stored or handled; it is refused with a reason.

Failures raise `SignatureError` with a stable reason code; nothing here logs or echoes a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config.strict_json import JSONRefusedError, loads_strict

TOLERANCE_SECONDS = 300
# Stripe's events are a few kilobytes; a megabyte is generous and bounds the HMAC work an
# unauthenticated caller can make us do.
MAX_BODY_BYTES = 1024 * 1024
# Enough for several v1 signatures (one per secret during rotation) and a v0; more is abuse.
MAX_HEADER_CHARS = 4096


class Reason:
    """Why a delivery was refused; each is counted and logged separately."""

    NOT_CONFIGURED = "not_configured"
    TOO_LARGE = "too_large"
    MISSING_HEADER = "missing_header"
    BAD_HEADER = "bad_header"
    NO_V1 = "no_v1"
    MISMATCH = "mismatch"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_JSON = "bad_json"
    TOO_DEEP = "too_deep"
    BAD_EVENT = "bad_event"

    ALL = (
        NOT_CONFIGURED,
        TOO_LARGE,
        MISSING_HEADER,
        BAD_HEADER,
        NO_V1,
        MISMATCH,
        STALE_TIMESTAMP,
        FUTURE_TIMESTAMP,
        BAD_JSON,
        TOO_DEEP,
        BAD_EVENT,
    )


class SignatureError(Exception):
    """The delivery is not a verified Stripe event; `reason` is one of `Reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedEvent:
    """A Stripe event whose signature and timestamp checked out."""

    id: str
    type: str
    account: str
    created: int | None
    payload: dict[str, Any]


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            # A second `t` would let an attacker pick which one we check: refuse the header.
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureError(Reason.BAD_HEADER)
            timestamp = int(value)
        elif key == "v1" and value:
            # A signature is hex; anything else could not even be compared in constant time.
            if not value.isascii():
                raise SignatureError(Reason.BAD_HEADER)
            signatures.append(value)
    if timestamp is None:
        raise SignatureError(Reason.BAD_HEADER)
    if not signatures:
        raise SignatureError(Reason.NO_V1)
    return timestamp, signatures


def sign(*, body: bytes, secret: str, timestamp: int) -> str:
    """The hex `v1` signature of `body` at `timestamp` (used by verification and by tests)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, body: bytes, secrets: Sequence[str], timestamp: int | None = None) -> str:
    """A `Stripe-Signature` value with one `v1` per secret, as Stripe sends during rotation."""
    t = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={t}"] + [f"v1={sign(body=body, secret=s, timestamp=t)}" for s in secrets]
    return ",".join(parts)


def _signature_matches(
    *, body: bytes, timestamp: int, candidates: list[str], secrets: Sequence[str]
) -> bool:
    matched = False
    for secret in secrets:
        expected = sign(body=body, secret=secret, timestamp=timestamp)
        for candidate in candidates:
            # Every pair is compared (no early exit) so timing says nothing about which matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def _is_token(value: str) -> bool:
    # Stripe's ids and types are printable ASCII; a control character (U+0000 above all) could
    # not even be stored as text.
    return value.isascii() and value.isprintable()


def verify_event(
    *,
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> VerifiedEvent:
    """Verify a delivery and parse it once; raise `SignatureError` with the reason otherwise."""
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError(Reason.NOT_CONFIGURED)
    if len(body) > MAX_BODY_BYTES:
        raise SignatureError(Reason.TOO_LARGE)
    if not header:
        raise SignatureError(Reason.MISSING_HEADER)
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(Reason.BAD_HEADER)
    timestamp, candidates = _parse_header(header)
    if not _signature_matches(
        body=body, timestamp=timestamp, candidates=candidates, secrets=usable
    ):
        raise SignatureError(Reason.MISMATCH)
    # Checked after the signature, so "stale" only ever describes a genuine but replayed event.
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError(Reason.STALE_TIMESTAMP)
    if timestamp > current + tolerance:
        raise SignatureError(Reason.FUTURE_TIMESTAMP)
    try:
        payload = loads_strict(body)
    except JSONRefusedError as exc:
        raise SignatureError(Reason.TOO_DEEP if exc.too_deep else Reason.BAD_JSON) from exc
    if not isinstance(payload, dict):
        raise SignatureError(Reason.BAD_EVENT)
    event_id, event_type = payload.get("id"), payload.get("type")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255 and _is_token(event_id)):
        raise SignatureError(Reason.BAD_EVENT)
    if not (isinstance(event_type, str) and 0 < len(event_type) <= 128 and _is_token(event_type)):
        raise SignatureError(Reason.BAD_EVENT)
    account = payload.get("account")
    created = payload.get("created")
    return VerifiedEvent(
        id=event_id,
        type=event_type,
        account=account
        if isinstance(account, str) and len(account) <= 64 and _is_token(account)
        else "",
        created=created if isinstance(created, int) and not isinstance(created, bool) else None,
        payload=payload,
    )
