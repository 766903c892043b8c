"""Helpers for the money tests: connected accounts, payments on them, and the sandbox clock."""

from __future__ import annotations

from typing import Any

import stripe

from sandbox.server import SandboxHandle
from sandbox.stripe.resources.ledger import DAY

ONLINE_MANDATE = {
    "customer_acceptance": {
        "type": "online",
        "online": {"ip_address": "203.0.113.7", "user_agent": "pytest"},
    }
}


def connected(client: stripe.StripeClient, **params: Any) -> dict[str, Any]:
    """A new connected account; the request options that act on it."""
    account = client.v1.accounts.create(params={"type": "express", **params})
    return {"stripe_account": account.id}


def pay(
    client: stripe.StripeClient,
    options: dict[str, Any],
    amount: int = 10_000,
    *,
    currency: str = "usd",
    pm: str = "pm_card_visa",
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "payment_method": pm,
            "confirm": True,
            "payment_method_types": ["card"],
        },
        options=options,
    )


def pay_by_bank(
    handle: SandboxHandle, client: stripe.StripeClient, options: dict[str, Any], amount: int
) -> stripe.PaymentIntent:
    """An ACH debit, settled at once through the control API."""
    customer = client.v1.customers.create(params={}, options=options)
    bank = client.v1.customers.payment_sources.create(
        customer.id,
        {"source": "btok_us_verified"},
        options=options,
    )
    intent = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": bank.id,
            "allowed_payment_method_types": ["us_bank_account"],
            "confirm": True,
            "mandate_data": ONLINE_MANDATE,
        },
        options=options,
    )
    handle.control.stripe_action("payment_intents", intent.id, "settle", {"outcome": "succeeded"})
    return intent


def balance(client: stripe.StripeClient, options: dict[str, Any]) -> dict[str, dict[str, int]]:
    """{"available": {currency: amount}, "pending": {...}}."""
    found = client.v1.balance.retrieve(options=options)
    return {
        "available": {f.currency: f.amount for f in found.available},
        "pending": {f.currency: f.amount for f in found.pending},
    }


def days(handle: SandboxHandle, count: float) -> None:
    handle.control.advance_clock(count * DAY)


def to_noon(handle: SandboxHandle) -> None:
    """Move the clock to the next 12:00 UTC, so hour-scale steps never cross a midnight."""
    now = int(handle.control.request("GET", "clock")["now"])
    handle.control.advance_clock(DAY - now % DAY + DAY // 2)


def listed(page: Any) -> list[Any]:
    """Every item of a list, following `has_more`."""
    return list(page.auto_paging_iter())
