"""A Plaid item's shared rules: final statuses, the row lock, its access token from the vault."""

from __future__ import annotations

from banking.exceptions import BankLinkSessionUnavailableError
from banking.models import (
    PlaidItem,
    PlaidItemStatus,
)
from banking.vault import Binding, vault_open

ACCESS_TOKEN_PURPOSE = "plaid_access_token"  # noqa: S105 - a vault label, not a secret
# Item statuses a webhook or sync may never leave: the customer or we ended the connection.
ITEM_FINAL = frozenset({PlaidItemStatus.REVOKED, PlaidItemStatus.REMOVED})


def item_binding(item: PlaidItem) -> Binding:
    """What the item's access token is sealed to: a copy on another row or merchant fails."""
    return Binding(
        purpose=ACCESS_TOKEN_PURPOSE,
        row=item.public_id,
        merchant=item.merchant.public_id,
        item=item.item_id,
    )


def plaid_item_access_token(*, item: PlaidItem) -> str:
    """The item's access token from the vault (in memory only for the next Plaid call)."""
    if item.access_token is None:
        raise BankLinkSessionUnavailableError("This bank connection was removed.")
    return vault_open(secret=item.access_token, binding=item_binding(item))


def item_lock(pk: int) -> PlaidItem:
    # `of=self`: lock the item only, not its merchant's row (other syncs and merchant edits
    # must not queue behind this one).
    item: PlaidItem = (
        PlaidItem.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=pk)
    )
    return item
