"""Plain data the Stripe gateway hands to services: never SDK objects, never card numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CardData:
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str = ""
    country: str = ""


@dataclass(frozen=True)
class IntentData:
    """What we mirror of a PaymentIntent (and its latest charge)."""

    id: str
    status: str
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    capture_method: str
    amount_refunded: int = 0
    latest_charge_id: str = ""
    card: CardData | None = None
    failure_code: str = ""
    decline_code: str = ""
    failure_message: str = ""
    next_action_url: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BankSourceData:
    """A customer's bank account at Stripe (`ba_...`): last 4 and status, never the number."""

    id: str
    last4: str = ""
    status: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class BankSetupData:
    """A us_bank_account SetupIntent: Stripe's own micro-deposit verification of an account."""

    id: str
    status: str
    client_secret: str = ""
    payment_method_id: str = ""
    last4: str = ""
    microdeposit_type: str = ""
    arrival_date: int | None = None
    error_code: str = ""


@dataclass(frozen=True)
class RefundData:
    id: str
    status: str
    amount: int
    currency: str
    payment_intent_id: str = ""
    failure_reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountData:
    id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


@dataclass(frozen=True)
class CustomerData:
    id: str
    email: str = ""
    name: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class EventData:
    id: str
    type: str
    created: int
    account: str = ""
    data_object: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    events: list[EventData]
    has_more: bool
