"""The Stripe gateway: the only package that imports `stripe`.

Services reach it through the registry (`payments.gateways.gateway_named("stripe")`), never by
importing this package; the inbound-event code that parses Stripe's event payloads uses the
parsers below.
"""

from payments.gateways.stripe.api import (
    StripeGateway,
    account_from_dict,
    charge_from_dict,
    dispute_from_dict,
    events_list,
    refund_from_dict,
)
from payments.gateways.stripe.resilience import breaker_reset, ensure_available
from payments.gateways.stripe.types import EventData, EventPage

__all__ = [
    "EventData",
    "EventPage",
    "StripeGateway",
    "account_from_dict",
    "breaker_reset",
    "charge_from_dict",
    "dispute_from_dict",
    "ensure_available",
    "events_list",
    "refund_from_dict",
]
