"""Braintree webhook notifications: the XML, its base64 `bt_payload` and the `bt_signature`.

The signature is Braintree's: `public_key|hex(HMAC-SHA1(key=SHA1(private_key), payload))`,
which the SDK's `WebhookNotification.parse(signature, payload)` checks; the receiver gets a
form-encoded POST of `bt_signature` and `bt_payload`, as Braintree sends it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from sandbox.braintree import render
from sandbox.braintree.store import JSON, BraintreeStore
from sandbox.braintree.xmlwire import dump

KINDS = {
    "check": "check",
    "transaction_settled": "transaction",
    "transaction_settlement_declined": "transaction",
    "transaction_disbursed": "transaction",
    "disbursement": "disbursement",
    "disbursement_exception": "disbursement",
    "dispute_opened": "dispute",
    "dispute_accepted": "dispute",
    "dispute_disputed": "dispute",
    "dispute_won": "dispute",
    "dispute_lost": "dispute",
    "dispute_expired": "dispute",
    "dispute_under_review": "dispute",
    "dispute_auto_accepted": "dispute",
}


def sign(payload: bytes, public_key: str, private_key: str) -> str:
    key = hashlib.sha1(private_key.encode()).digest()  # noqa: S324 (Braintree's scheme)
    return f"{public_key}|{hmac.new(key, payload, hashlib.sha1).hexdigest()}"


def _sample(root: str, subject_id: str, now: float, merchant_id: str) -> JSON:
    """WebhookTesting's stand-in subject for an id the sandbox does not hold."""
    stamp = render.when(now)
    if root == "transaction":
        return {
            "id": subject_id,
            "amount": "100.00",
            "status": "settled",
            "type": "sale",
            "currency_iso_code": "USD",
            "created_at": stamp,
            "updated_at": stamp,
            "disbursement_details": {"disbursement_date": render.day(now)},
        }
    if root == "dispute":
        return {
            "id": subject_id,
            "amount": "250.00",
            "amount_disputed": "250.00",
            "currency_iso_code": "USD",
            "kind": "chargeback",
            "reason": "fraud",
            "status": "open",
            "received_date": render.day(now),
            "created_at": stamp,
            "updated_at": stamp,
            "transaction": {"id": subject_id, "amount": "250.00"},
        }
    return render.disbursement(
        {
            "id": subject_id,
            "amount_cents": 10_000,
            "at": now,
            "transaction_ids": ["afv56j", "kj8hjk"],
            "merchant_account_id": merchant_id,
            "currency": "USD",
        }
    )


def subject(
    store: BraintreeStore, kind: str, subject_id: str, now: float, merchant_id: str
) -> JSON:
    root = KINDS[kind]
    if root == "check":
        return {"check": True}
    record: Any
    if root == "transaction" and subject_id in store.transactions:
        record = render.transaction(store, store.transactions[subject_id], now=now)
    elif root == "dispute" and subject_id in store.disputes:
        record = render.dispute(store, store.disputes[subject_id])
    elif root == "disbursement" and subject_id in store.disbursements:
        record = render.disbursement(store.disbursements[subject_id])
    else:
        record = _sample(root, subject_id, now, merchant_id)
    if kind == "disbursement_exception":
        # The deposit to the merchant's bank failed: Braintree's sample's reason and action.
        record = {
            **record,
            "success": False,
            "retry": False,
            "exception_message": "bank_rejected",
            "follow_up_action": "update_funding_information",
        }
    return {root: record}


def build(
    store: BraintreeStore,
    kind: str,
    subject_id: str,
    *,
    now: float,
    timestamp: float,
    public_key: str,
    private_key: str,
    merchant_id: str,
) -> dict[str, str]:
    """`{"bt_signature", "bt_payload"}` for one notification (`timestamp` may be made stale)."""
    xml = dump(
        "notification",
        {
            "timestamp": dt.datetime.fromtimestamp(timestamp, tz=dt.UTC),
            "kind": kind,
            "subject": subject(store, kind, subject_id, now, merchant_id),
        },
    )
    payload = base64.encodebytes(xml)
    return {
        "bt_signature": sign(payload, public_key, private_key),
        "bt_payload": payload.decode(),
    }


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()
