"""Handlers for Plaid's webhook types in the payments inbound-event pipeline.

Each handler ignores the payload's claims and re-reads the item and its accounts from Plaid,
applying the verification state machine forward-only, so duplicates and any delivery order
converge on the same state. The read (`plaid_item_read`) is the handler's fetch step, which
the pipeline runs with no transaction open; the apply (`plaid_item_apply`) runs in the
event's transaction. `register` adds them to the pipeline's type table from
BankingConfig.ready().
"""

from __future__ import annotations

from dataclasses import dataclass

from banking.models import PlaidItem
from banking.services import ItemReading, plaid_item_apply, plaid_item_read
from compliance.actors import Actor
from payments.models import EventProvider, InboundEvent

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


def register() -> None:
    # payments.webhooks exposes no register function, so banking adds its entries to the
    # pipeline's HANDLERS table directly (payments never imports banking).
    from payments.webhooks import HANDLERS, FetchingHandler

    handler = FetchingHandler(fetch=plaid_item_event_fetch, apply=plaid_item_event_apply)
    for event_type in PLAID_TYPES:
        HANDLERS[(EventProvider.PLAID, event_type)] = handler
