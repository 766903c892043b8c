"""The payments models that hold the merchant's business records: its accounts, keys and money
at the processor (only a balance transaction's copied description may name a person).
Classified for the personal-data registry (every field of every model is), kept apart from
`payments.personal_data`, which finds, exports and erases a subject's rows."""

from __future__ import annotations

from compliance.personal_data import N, P, classify
from payments.models import (
    BalanceTotal,
    BalanceTransaction,
    CustomerDayCount,
    PaymentDayTotal,
    Payout,
    PlatformFee,
    ProcessorAccount,
    ProcessorCredential,
    ProcessorOutage,
)


def classify_business_records() -> None:
    money_note = "The merchant's own money at the processor; no person is named in it."
    classify(
        ProcessorAccount,
        {
            "id": N,
            "merchant": N,
            "processor": N,
            "processor_account_id": N,
            "charges_enabled": N,
            "payouts_enabled": N,
            "details_submitted": N,
            "routing_rank": N,
            "created_at": N,
            "updated_at": N,
        },
        note="The merchant's business account at the processor.",
    )
    classify(
        PlatformFee,
        {
            "id": N,
            "merchant": N,
            "rate_bps": N,
            "fixed_amount": N,
            "fixed_currency": N,
            "updated_at": N,
        },
        note="The platform's price for a merchant's charges (names no person).",
    )
    classify(
        ProcessorOutage,
        {"id": N, "processor": N, "marked_down": N, "note": N, "updated_at": N},
        note="Platform staff's mark that a processor is down (names no person).",
    )
    classify(
        ProcessorCredential,
        {
            "id": N,
            "public_id": N,
            "account": N,
            "public_key_digest": N,
            "key_id": N,
            "wrapped_key": N,
            "nonce": N,
            "ciphertext": N,
            "created_at": N,
            "rewrapped_at": N,
            "reconciled_through": N,
        },
        note="The merchant's sealed API keys at the processor: a business's, not a person's.",
    )
    classify(
        Payout,
        {
            "id": N,
            "public_id": N,
            "merchant": N,
            "processor": N,
            "processor_payout_id": N,
            "amount": N,
            "currency": N,
            "status": N,
            "automatic": N,
            "arrival_date": N,
            "failure_code": N,
            "failure_message": N,
            "processor_created_at": N,
            "created_at": N,
            "updated_at": N,
        },
        note=money_note,
    )
    classify(
        BalanceTransaction,
        {
            "id": N,
            "public_id": N,
            "merchant": N,
            "processor": N,
            "processor_transaction_id": N,
            "type": N,
            "amount": N,
            "fee": N,
            "net": N,
            "currency": N,
            # The processor copies the payment's description, which may name its customer:
            # erased with the customer (payments.personal_data).
            "description": P,
            "processor_source_id": N,
            "payment": N,
            "refund": N,
            "dispute": N,
            "payout": N,
            "available_on": N,
            "processor_created_at": N,
            "created_at": N,
        },
        note=money_note,
    )
    classify(
        PaymentDayTotal,
        {
            "id": N,
            "merchant": N,
            "currency": N,
            "day": N,
            "gross": N,
            "kept": N,
            "payment_count": N,
        },
        note="Sums of the merchant's payments per day; no payment or person can be told apart.",
    )
    classify(
        CustomerDayCount,
        {"id": N, "merchant": N, "day": N, "customer_count": N},
        note="How many customers the merchant gained per day; no customer can be told apart.",
    )
    classify(
        BalanceTotal,
        {"id": N, "merchant": N, "processor": N, "currency": N, "net": N, "transaction_count": N},
        note="The net of all the merchant's balance transactions per processor and currency; "
        "no payment or person can be told apart.",
    )
