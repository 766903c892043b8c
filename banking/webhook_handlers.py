"""Handlers for Plaid's webhook types in the payments inbound-event pipeline.

Each handler ignores the payload's claims and re-reads the item and its accounts from Plaid
(`plaid_item_sync`), applying the verification state machine forward-only, so duplicates and
any delivery order converge on the same state. `register` adds them to the pipeline's type
table from BankingConfig.ready().
"""

from __future__ import annotations

from banking.models import PlaidItem
from banking.services import plaid_item_sync
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


def on_plaid_item_event(event: InboundEvent) -> str | None:
    """Re-read the event's item from Plaid and apply it; a note when there is nothing to do."""
    item = PlaidItem.objects.select_related("merchant").filter(item_id=event.account).first()
    if item is None:
        return "unknown item"
    _, _, code = event.type.partition(":")
    plaid_item_sync(item=item, actor=Actor.webhook(EventProvider.PLAID), webhook_code=code)
    return None


def register() -> None:
    # payments.webhooks exposes no register function, so banking adds its entries to the
    # pipeline's HANDLERS table directly (payments never imports banking).
    from payments.webhooks import HANDLERS

    for event_type in PLAID_TYPES:
        HANDLERS[(EventProvider.PLAID, event_type)] = on_plaid_item_event
