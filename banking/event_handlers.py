"""Banking's handlers of inbound events: Plaid's item webhooks and Stripe's SetupIntent events.

Plaid's handler ignores the payload's claims and re-reads the item and its accounts from
Plaid, applying the verification state machine forward-only, so duplicates and any delivery
order converge on the same state. The read (`plaid_item_read`) is the handler's fetch step,
which the pipeline runs with no transaction open; the apply (`plaid_item_apply`) runs in the
event's transaction. Stripe's `setup_intent.*` events drive the micro-deposit fallback
(`banking.stripe_fallback`, which holds their fetch and apply). `register_event_handlers`
registers both with the inbound pipeline from BankingConfig.ready().
"""

from __future__ import annotations

from dataclasses import dataclass

from banking.models import PlaidItem
from banking.services import ItemReading, plaid_item_apply, plaid_item_read
from banking.stripe_fallback import (
    SETUP_INTENT_EVENTS,
    setup_intent_event_apply,
    setup_intent_event_fetch,
)
from compliance.actors import Actor
from inbound.models import EventProvider, InboundEvent
from inbound.registry import FetchingHandler, register

PLAID_TYPES = (
    "AUTH:AUTOMATICALLY_VERIFIED",
    "AUTH:VERIFICATION_EXPIRED",
    "AUTH:SMS_MICRODEPOSITS_VERIFICATION",
    "ITEM:ERROR",
    "ITEM:PENDING_DISCONNECT",
    "ITEM:PENDING_EXPIRATION",
    "ITEM:USER_PERMISSION_REVOKED",
    "ITEM:LOGIN_REPAIRED",
    "ITEM:NEW_ACCOUNTS_AVAILABLE",
)


@dataclass(frozen=True)
class _ItemRead:
    item: PlaidItem
    # None: the item is removed or revoked, nothing to read or apply.
    reading: ItemReading | None


def plaid_item_event_fetch(event: InboundEvent) -> _ItemRead | None:
    """Read the event's item from Plaid (no transaction open); None for an item not ours."""
    item = PlaidItem.objects.select_related("merchant").filter(item_id=event.account).first()
    if item is None:
        return None
    return _ItemRead(item=item, reading=plaid_item_read(item=item))


def plaid_item_event_apply(event: InboundEvent, read: _ItemRead | None) -> str | None:
    """Apply what Plaid said of the item; a note when there is nothing to do."""
    if read is None:
        return "unknown item"
    if read.reading is not None:
        _, _, code = event.type.partition(":")
        plaid_item_apply(
            item=read.item,
            reading=read.reading,
            actor=Actor.webhook(EventProvider.PLAID),
            webhook_code=code,
        )
    return None


def register_event_handlers() -> None:
    """From BankingConfig.ready(): the pipeline dispatches these types here."""
    plaid = FetchingHandler(fetch=plaid_item_event_fetch, apply=plaid_item_event_apply)
    for event_type in PLAID_TYPES:
        register(provider=EventProvider.PLAID, event_type=event_type, handler=plaid)
    setup = FetchingHandler(fetch=setup_intent_event_fetch, apply=setup_intent_event_apply)
    for event_type in SETUP_INTENT_EVENTS:
        register(provider=EventProvider.STRIPE, event_type=event_type, handler=setup)
