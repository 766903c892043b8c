"""ITEM: NEW_ACCOUNTS_AVAILABLE: accounts Plaid starts reporting on a linked item are added.

In the sandbox an item is linked with one account kept back at Plaid; giving it back is what
Plaid does once the customer shares the new account (Link's update mode with Account Select,
or at once where the institution shares every account). The webhook's handler, and the poll,
re-read the item and add what is new, under the link-time duplicate guard.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from banking import services
from banking.models import BankAccount, PlaidItem, VerificationState
from banking.tasks import plaid_items_reconcile_quiet
from compliance.models import AuditEntry
from inbound.models import EventProvider, InboundEvent, InboundEventStatus
from inbound.services import inbound_event_process
from sandbox.server import SandboxHandle
from tests.banking.test_rotation import (  # noqa: F401 - fixtures shared with the rotation tests
    ACTOR,
    LinkItem,
    link_item,
    plaid_sandbox,
)
from tests.payments.factories import CustomerFactory

# The sandbox fixtures come from test_rotation.py; pytest injects them by parameter name, which
# ruff reads as redefining the imported names.
# ruff: noqa: F811

pytestmark = pytest.mark.django_db
# /sandbox/public_token/create links all three of First Platypus's test accounts.
CHECKING, SAVINGS, CREDIT = "0000", "1111", "3333"


def _announce(item: PlaidItem) -> str:
    """Plaid's NEW_ACCOUNTS_AVAILABLE for `item`, through the registered pipeline handler."""
    event = InboundEvent.objects.create(
        provider=EventProvider.PLAID,
        event_id=f"new-accounts-{item.item_id}-{InboundEvent.objects.count()}",
        type="ITEM:NEW_ACCOUNTS_AVAILABLE",
        account=item.item_id,
        merchant=item.merchant,
        payload={"webhook_type": "ITEM", "webhook_code": "NEW_ACCOUNTS_AVAILABLE"},
    )
    return inbound_event_process(event_id=event.pk)


def test_an_account_the_customer_shares_later_is_added_and_audited(
    plaid_sandbox: SandboxHandle, link_item: LinkItem
) -> None:
    item = link_item(hide=(SAVINGS,))
    assert sorted(item.accounts.values_list("mask", flat=True)) == [CHECKING, CREDIT]

    assert (
        _announce(item) == InboundEventStatus.SUCCEEDED
    )  # nothing new at Plaid yet: the customer is to be asked
    assert item.accounts.count() == 2
    item.refresh_from_db()
    assert item.new_accounts_available_at is not None
    link_item.reveal(item)  # type: ignore[attr-defined]
    assert _announce(item) == InboundEventStatus.SUCCEEDED

    added = item.accounts.get(mask=SAVINGS)
    assert added.name == "Plaid Saving"
    assert added.customer_id == item.customer_id
    assert added.merchant_id == item.merchant_id
    assert added.institution_name == item.institution_name
    assert added.verification_state == VerificationState.VERIFIED
    assert added.routing_fingerprint
    assert added.persistent_account_id
    assert added.can_move_money
    marked, entry = AuditEntry.objects.filter(
        action="plaid_item.sync", target_id=item.public_id
    ).order_by("pk")
    assert marked.payload == {"changed": {}, "error_code": "", "new_accounts_available": True}
    # The account was shared: it is added and the offer to share ends (the same entry).
    assert entry.payload["changed"] == {added.public_id: "added"}
    assert entry.payload["new_accounts_available"] is False
    assert entry.actor_kind == "webhook"
    item.refresh_from_db()
    assert item.new_accounts_available_at is None
    # Replays of the webhook add nothing more.
    assert _announce(item) == InboundEventStatus.SUCCEEDED
    assert item.accounts.count() == 3


def test_an_account_the_merchant_already_has_live_is_not_added_twice(
    link_item: LinkItem,
) -> None:
    customer = CustomerFactory()
    # The same bank login linked twice, each item with one of its two accounts.
    first = link_item(customer=customer, hide=(CHECKING, CREDIT))
    second = link_item(customer=customer, hide=(SAVINGS,))
    existing = first.accounts.get()
    assert existing.mask == SAVINGS
    link_item.reveal(second)  # type: ignore[attr-defined]

    _announce(second)

    assert sorted(second.accounts.values_list("mask", flat=True)) == [CHECKING, CREDIT]
    assert BankAccount.objects.filter(mask=SAVINGS).count() == 1
    # Nothing was added, so the customer is still offered Link's Account Select.
    entry = AuditEntry.objects.filter(action="plaid_item.sync").get()
    assert entry.payload == {
        "changed": {},
        "error_code": "",
        "refused_duplicates_of": [existing.public_id],
        "new_accounts_available": True,
    }


def test_a_disconnected_account_is_never_brought_back(link_item: LinkItem) -> None:
    item = link_item()
    savings = item.accounts.get(mask=SAVINGS)
    services.bank_account_disconnect(account=savings, actor=ACTOR)

    _announce(item)

    savings.refresh_from_db()
    assert savings.disconnected_at is not None
    assert item.accounts.count() == 3
    assert item.accounts.filter(disconnected_at__isnull=True).count() == 2


def test_the_poll_adds_new_accounts_when_the_webhook_never_came(link_item: LinkItem) -> None:
    item = link_item(hide=(SAVINGS,))
    link_item.reveal(item)  # type: ignore[attr-defined]
    PlaidItem.objects.filter(pk=item.pk).update(synced_at=timezone.now() - timedelta(days=1))

    assert plaid_items_reconcile_quiet.delay().get()["changed"] == 1

    assert sorted(item.accounts.values_list("mask", flat=True)) == [CHECKING, SAVINGS, CREDIT]
