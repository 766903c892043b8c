"""The Stripe gateway: the only package that imports `stripe`. Services import from here."""

from payments.gateways.stripe.api import (
    account_create,
    account_onboarding_link,
    account_retrieve,
    customer_create,
    customer_delete,
    customer_update,
    events_list,
    intent_from_dict,
    payment_intent_cancel,
    payment_intent_capture,
    payment_intent_create_and_confirm,
    payment_intent_retrieve,
    refund_create,
    refund_from_dict,
)
from payments.gateways.stripe.resilience import breaker_reset, ensure_available
from payments.gateways.stripe.types import (
    AccountData,
    CardData,
    CustomerData,
    EventData,
    EventPage,
    IntentData,
    RefundData,
)

__all__ = [
    "AccountData",
    "CardData",
    "CustomerData",
    "EventData",
    "EventPage",
    "IntentData",
    "RefundData",
    "account_create",
    "account_onboarding_link",
    "account_retrieve",
    "breaker_reset",
    "customer_create",
    "customer_delete",
    "customer_update",
    "ensure_available",
    "events_list",
    "intent_from_dict",
    "payment_intent_cancel",
    "payment_intent_capture",
    "payment_intent_create_and_confirm",
    "payment_intent_retrieve",
    "refund_create",
    "refund_from_dict",
]
