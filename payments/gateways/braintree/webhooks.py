"""Braintree webhook verification: the SDK's `webhook_notification.parse`, with the right keys.

Braintree posts a form with `bt_signature` (`public_key|hmac` pairs, joined by `&` during key
rotation) and `bt_payload` (base64 XML). The notification does not name the merchant, but
its signature names the public key that signed it: the caller's `keys_for_public_key` finds
the merchant whose stored public key that is (by digest, without opening any secret), and the
SDK verifies the HMAC with that merchant's private key, then parses the XML.

A notification has no id of its own; a re-delivery is the same signed payload, so the event
id is the SHA-256 of `bt_payload`: duplicates are dropped by the pipeline's unique
(provider, event id). What is stored is plain JSON in the product's words (amounts in minor
units, statuses as Braintree names them), built here, so handlers never parse Braintree XML.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from braintree.exceptions import InvalidSignatureError

from payments.gateways.braintree.api import DISPUTE_STATUS, minor_units
from payments.gateways.braintree.client import Keys, sdk_gateway

# Braintree's notifications are a few kilobytes; this bounds what an anonymous caller can
# make us decode and hash.
MAX_BODY_BYTES = 256 * 1024
MAX_SIGNATURE_CHARS = 2048
_PUBLIC_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_KIND = re.compile(r"^[a-z_]{1,64}$")


class Reason:
    """Why a delivery was refused; each is counted separately."""

    TOO_LARGE = "too_large"
    MISSING_FIELDS = "missing_fields"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    MISMATCH = "mismatch"
    BAD_PAYLOAD = "bad_payload"


class SignatureError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedNotification:
    id: str
    kind: str
    merchant_id: str
    created: int | None
    payload: dict[str, Any]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _epoch(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    return None


def public_keys_of(signature: str) -> list[str]:
    """The public keys a `bt_signature` names (well-formed ones only)."""
    keys = []
    for pair in signature.split("&"):
        public_key, sep, _ = pair.partition("|")
        if sep and _PUBLIC_KEY.match(public_key):
            keys.append(public_key)
    return keys


def transaction_subject(txn: Any) -> dict[str, Any]:
    """A transaction as stored in an event: enough to apply it without asking Braintree."""
    currency = _str(getattr(txn, "currency_iso_code", None)).lower()
    return {
        "id": _str(getattr(txn, "id", None)),
        "type": _str(getattr(txn, "type", None)),
        "status": _str(getattr(txn, "status", None)),
        "amount": minor_units(getattr(txn, "amount", None), currency),
        "currency": currency,
        "order_id": _str(getattr(txn, "order_id", None)),
        "refunded_transaction_id": _str(getattr(txn, "refunded_transaction_id", None)),
        "processor_response_code": _str(getattr(txn, "processor_response_code", None)),
        "updated_at": _epoch(getattr(txn, "updated_at", None)),
    }


def _dispute_subject(dispute: Any) -> dict[str, Any]:
    currency = _str(getattr(dispute, "currency_iso_code", None)).lower()
    txn = getattr(dispute, "transaction", None)
    status = _str(getattr(dispute, "status", None))
    return {
        "id": _str(getattr(dispute, "id", None)),
        "status": DISPUTE_STATUS.get(status, ""),
        "processor_status": status,
        "amount": minor_units(getattr(dispute, "amount_disputed", None), currency),
        "currency": currency,
        "reason": _str(getattr(dispute, "reason", None)),
        "evidence_details": {"due_by": _epoch(getattr(dispute, "reply_by_date", None))},
        "transaction_id": _str(getattr(txn, "id", None)),
        "order_id": _str(getattr(txn, "order_id", None)),
    }


def _disbursement_subject(disbursement: Any) -> dict[str, Any]:
    account = getattr(disbursement, "merchant_account", None)
    currency = _str(getattr(account, "currency_iso_code", None)).lower()
    ids = getattr(disbursement, "transaction_ids", None) or []
    return {
        "id": _str(getattr(disbursement, "id", None)),
        "amount": minor_units(getattr(disbursement, "amount", None), currency or "usd"),
        "currency": currency,
        "transaction_ids": [_str(item) for item in ids][:1000],
        "disbursement_date": _epoch(getattr(disbursement, "disbursement_date", None)),
        # credit: paid to the merchant's bank; debit: taken from it (refunds exceeded sales).
        "disbursement_type": _str(getattr(disbursement, "disbursement_type", None)),
        "success": getattr(disbursement, "success", None) is not False,
        "exception_message": _str(getattr(disbursement, "exception_message", None)),
        "follow_up_action": _str(getattr(disbursement, "follow_up_action", None)),
    }


def _subject(notification: Any) -> dict[str, Any]:
    kind = _str(getattr(notification, "kind", None))
    if kind.startswith("dispute_") and getattr(notification, "dispute", None) is not None:
        return {"dispute": _dispute_subject(notification.dispute)}
    if kind.startswith("disbursement") and getattr(notification, "disbursement", None) is not None:
        return {"disbursement": _disbursement_subject(notification.disbursement)}
    if getattr(notification, "transaction", None) is not None:
        return {"transaction": transaction_subject(notification.transaction)}
    return {}


def verify_notification(
    *,
    signature: str | None,
    payload: str | None,
    keys_for_public_key: Callable[[str], Keys | None],
) -> VerifiedNotification:
    """Verify and parse one delivery; raise `SignatureError` with the reason otherwise."""
    if not signature or not payload:
        raise SignatureError(Reason.MISSING_FIELDS)
    if len(signature) > MAX_SIGNATURE_CHARS or len(payload) > MAX_BODY_BYTES:
        raise SignatureError(Reason.TOO_LARGE)
    keys = None
    for public_key in public_keys_of(signature):
        keys = keys_for_public_key(public_key)
        if keys is not None:
            break
    else:
        raise SignatureError(Reason.UNKNOWN_KEY if "|" in signature else Reason.BAD_SIGNATURE)
    try:
        notification = sdk_gateway(keys).webhook_notification.parse(signature, payload)
    except InvalidSignatureError as exc:
        raise SignatureError(Reason.MISMATCH) from exc
    except Exception as exc:  # a signed payload the SDK cannot read
        raise SignatureError(Reason.BAD_PAYLOAD) from exc
    kind = _str(getattr(notification, "kind", None))
    if not _KIND.match(kind):
        raise SignatureError(Reason.BAD_PAYLOAD)
    created = _epoch(getattr(notification, "timestamp", None))
    return VerifiedNotification(
        id="btn_" + hashlib.sha256(payload.encode()).hexdigest(),
        kind=kind,
        merchant_id=keys.merchant_id,
        created=created,
        payload={"kind": kind, "timestamp": created, **_subject(notification)},
    )
