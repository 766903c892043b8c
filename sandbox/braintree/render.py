"""Stored records -> Braintree's XML objects (the fields the SDK's resource classes read)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sandbox.braintree import cards
from sandbox.braintree.store import JSON, BraintreeStore
from sandbox.braintree.xmlwire import Many

IMAGE_URL = "https://assets.braintreegateway.com/payment_method_logo/{}.png?environment=sandbox"


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def when(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def day(seconds: float | None) -> dt.date | None:
    moment = when(seconds)
    return None if moment is None else moment.date()


def card_details(card: JSON, *, now: float, token: str | None = None) -> JSON:
    """The card fields Braintree shows on a transaction or a vaulted card (never the number)."""
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    year, month = int(card["expiration_year"]), int(card["expiration_month"])
    expired = (year, month) < (today.year, today.month)
    fingerprint = hashlib.sha256(
        f"{card['bin']}{card['last_4']}{card['expiration_month']}{card['expiration_year']}".encode()
    ).hexdigest()[:32]
    return {
        "token": token,
        "bin": card["bin"],
        "last_4": card["last_4"],
        "card_type": card["card_type"],
        "expiration_month": card["expiration_month"],
        "expiration_year": card["expiration_year"],
        "expired": expired,
        "cardholder_name": None,
        "customer_location": "US",
        "country_of_issuance": "USA",
        "issuing_bank": "Unknown",
        "prepaid": "Unknown",
        "debit": "Unknown",
        "commercial": "Unknown",
        "healthcare": "Unknown",
        "durbin_regulated": "Unknown",
        "payroll": "Unknown",
        "product_id": "Unknown",
        "image_url": IMAGE_URL.format(card["card_type"].lower().replace(" ", "_")),
        "unique_number_identifier": fingerprint,
    }


def three_d_secure_info(outcome: str | None, authentication_id: str) -> JSON | None:
    if outcome is None:
        return None
    passed = outcome == "authenticated"
    return {
        "status": "authenticate_successful" if passed else "authenticate_failed",
        "enrolled": "Y",
        "liability_shifted": passed,
        "liability_shift_possible": True,
        "cavv": "AAABAWFlmQAAAABjRWWZEEFgFz+=" if passed else None,
        "eci_flag": "05" if passed else "07",
        "three_d_secure_version": "2.2.0",
        "ds_transaction_id": authentication_id,
        "three_d_secure_authentication_id": authentication_id,
        "xid": None,
    }


def transaction(store: BraintreeStore, txn: JSON, *, now: float) -> JSON:
    customer = store.customers.get(txn.get("customer_id") or "")
    code = txn["processor_response_code"]
    text, response_type = cards.response(code) if code else (None, None)
    if txn["status"] == "gateway_rejected":
        text, response_type = None, None
    return {
        "id": txn["id"],
        "type": txn["type"],
        "status": txn["status"],
        "amount": money(txn["amount_cents"]),
        "currency_iso_code": txn["currency"],
        "merchant_account_id": txn["merchant_account_id"],
        "order_id": txn.get("order_id"),
        "created_at": when(txn["created_at"]),
        "updated_at": when(txn["updated_at"]),
        "authorization_expires_at": when(txn.get("authorization_expires_at")),
        "customer": {
            "id": customer["id"] if customer else None,
            "first_name": customer.get("first_name") if customer else None,
            "last_name": customer.get("last_name") if customer else None,
            "email": customer.get("email") if customer else None,
            "company": customer.get("company") if customer else None,
            "phone": customer.get("phone") if customer else None,
            "website": customer.get("website") if customer else None,
        },
        "payment_instrument_type": "credit_card",
        "credit_card": card_details(txn["card"], now=now, token=txn.get("payment_method_token")),
        "processor_response_code": code,
        "processor_response_text": text,
        "processor_response_type": response_type,
        "processor_authorization_code": txn.get("authorization_code"),
        "additional_processor_response": None,
        "network_response_code": "00" if code == "1000" else None,
        "gateway_rejection_reason": txn.get("gateway_rejection_reason"),
        "avs_postal_code_response_code": "M",
        "avs_street_address_response_code": "I",
        "cvv_response_code": "M",
        "refund_ids": list(txn.get("refund_ids", [])),
        "refunded_transaction_id": txn.get("refunded_transaction_id"),
        "partial_settlement_transaction_ids": [],
        "settlement_batch_id": txn.get("settlement_batch_id"),
        "recurring": False,
        "channel": None,
        "custom_fields": "",
        "network_transaction_id": txn.get("network_transaction_id"),
        "status_history": Many(
            "status_event",
            [
                {
                    "timestamp": when(event["at"]),
                    "status": event["status"],
                    "amount": money(event["amount_cents"]),
                    "user": None,
                    "transaction_source": "api",
                }
                for event in txn["status_history"]
            ],
        ),
        "disbursement_details": {
            "settlement_amount": money(txn["amount_cents"]) if txn.get("disbursed_at") else None,
            "settlement_currency_iso_code": txn["currency"] if txn.get("disbursed_at") else None,
            "settlement_currency_exchange_rate": "1" if txn.get("disbursed_at") else None,
            "funds_held": False if txn.get("disbursed_at") else None,
            "success": True if txn.get("disbursed_at") else None,
            "disbursement_date": day(txn.get("disbursed_at")),
        },
        "disputes": Many(
            "dispute", [dispute(store, store.disputes[d], full=False) for d in txn["dispute_ids"]]
        ),
        "three_d_secure_info": three_d_secure_info(
            txn["card"].get("three_d_secure"), txn.get("three_d_secure_id") or ""
        ),
    }


def payment_method(method: JSON, *, now: float) -> JSON:
    details = card_details(method["card"], now=now, token=method["token"])
    return {
        **details,
        "customer_id": method["customer_id"],
        "default": method["default"],
        "created_at": when(method["created_at"]),
        "updated_at": when(method["updated_at"]),
        "subscriptions": Many("subscription", []),
    }


def customer(store: BraintreeStore, record: JSON, *, now: float) -> JSON:
    methods = [store.payment_methods[token] for token in record["payment_method_tokens"]]
    return {
        "id": record["id"],
        "first_name": record.get("first_name"),
        "last_name": record.get("last_name"),
        "company": record.get("company"),
        "email": record.get("email"),
        "phone": record.get("phone"),
        "fax": None,
        "website": record.get("website"),
        "created_at": when(record["created_at"]),
        "updated_at": when(record["updated_at"]),
        "custom_fields": "",
        "credit_cards": Many("credit_card", [payment_method(m, now=now) for m in methods]),
        "addresses": Many("address", []),
    }


def evidence(item: JSON) -> JSON:
    return {
        "id": item["id"],
        "comment": item["comment"],
        "category": item.get("category"),
        "sequence_number": item.get("sequence_number"),
        "created_at": when(item["created_at"]),
        "sent_to_processor_at": when(item.get("sent_to_processor_at")),
        "url": item.get("url"),
    }


def dispute(store: BraintreeStore, record: JSON, *, full: bool = True) -> JSON:
    txn = store.transactions[record["transaction_id"]]
    answer: JSON = {
        "id": record["id"],
        "amount": money(record["amount_cents"]),
        "amount_disputed": money(record["amount_cents"]),
        "amount_won": money(record["amount_cents"] if record["status"] == "won" else 0),
        "case_number": record["case_number"],
        "currency_iso_code": txn["currency"],
        "kind": "chargeback",
        "merchant_account_id": txn["merchant_account_id"],
        "original_dispute_id": None,
        "reason": record["reason"],
        "reason_code": "83",
        "reason_description": "Fraud - Card Absent Environment",
        "received_date": day(record["created_at"]),
        "reply_by_date": day(record["reply_by"]),
        "reference_number": record["reference_number"],
        "status": record["status"],
        "created_at": when(record["created_at"]),
        "updated_at": when(record["updated_at"]),
        "processor_comments": None,
        "transaction": {
            "id": txn["id"],
            "amount": money(txn["amount_cents"]),
            "created_at": when(txn["created_at"]),
            "order_id": txn.get("order_id"),
            "purchase_order_number": None,
            "payment_instrument_subtype": txn["card"]["card_type"],
        },
    }
    if full:
        answer["status_history"] = Many(
            "status_history",
            [
                {
                    "status": event["status"],
                    "timestamp": when(event["at"]),
                    "effective_date": day(event["at"]),
                    "disbursement_date": None,
                }
                for event in record["status_history"]
            ],
        )
        answer["evidence"] = Many("evidence", [evidence(item) for item in record["evidence"]])
    return answer


def disbursement(record: JSON) -> JSON:
    return {
        "id": record["id"],
        "amount": money(abs(record["amount_cents"])),
        "disbursement_date": day(record["at"]),
        "disbursement_type": "credit" if record["amount_cents"] >= 0 else "debit",
        "transaction_ids": list(record["transaction_ids"]),
        "success": True,
        "retry": False,
        "exception_message": None,
        "follow_up_action": None,
        "merchant_account": {
            "id": record["merchant_account_id"],
            "currency_iso_code": record["currency"],
            "sub_merchant_account": False,
            "status": "active",
        },
    }


def page_fields(count: int, page_size: int, page: int = 1) -> dict[str, Any]:
    return {"current_page_number": page, "page_size": page_size, "total_items": count}
