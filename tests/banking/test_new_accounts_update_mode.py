"""NEW_ACCOUNTS_AVAILABLE offered to the customer: Link's update mode with Account Select.

Against the sandbox Plaid: its NEW_ACCOUNTS_AVAILABLE opens an account at the bank that Plaid's
API does not report until the customer shares it in Link. The signed webhook goes through
`/webhooks/plaid/` and the pipeline (Celery eager), the item is marked, the customer's page
opens Link with `update.account_selection_enabled`, the customer ticks the new account, and
the page's POST re-reads Plaid, which adds it (audited) and ends the offer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from banking import services
from banking.exceptions import BankLinkSessionUnavailableError
from banking.models import BankAccount, BankLinkSession, PlaidItem
from compliance.models import AuditEntry
from inbound.models import InboundEvent
from tests.banking.linking import PlaidSandbox, deliver, new_customer
from tests.banking.test_pages import LINK_TOKEN
from tests.factories import member, verified_client

pytestmark = pytest.mark.django_db
CHECKING, SAVINGS = "0000", "1111"
OFFER = "Your bank has new accounts you can share"
MERCHANT_NOTE = "New accounts available: send the customer their link again"


def _linked(plaid: PlaidSandbox, customer: Any = None, account_index: int = 0) -> tuple[Any, Any]:
    """(session, item): one account linked instantly; the item's webhooks reach the inbox."""
    customer = customer or new_customer()
    new = services.bank_link_session_create(
        merchant=customer.merchant, customer=customer, actor=None
    )
    item = plaid.link(new.session, "instant", account_index=account_index)
    return new, item


def _announce(plaid: PlaidSandbox, item: PlaidItem, capture: Any) -> None:
    """Plaid's Sandbox fires NEW_ACCOUNTS_AVAILABLE; the signed body goes through our intake."""
    before = len(plaid.signed_webhooks(item))
    plaid.for_item(item, "/sandbox/item/fire_webhook", webhook_code="NEW_ACCOUNTS_AVAILABLE")
    hooks = plaid.signed_webhooks(item)[before:]
    assert [h.event["webhook_code"] for h in hooks] == ["NEW_ACCOUNTS_AVAILABLE"]
    with capture(execute=True):
        assert deliver(hooks[0])[0] == 200


def _share_through_page(
    plaid: PlaidSandbox, client: Client, path: str, **choices: Any
) -> tuple[dict[str, Any], int]:
    """The customer opens Link from the page, ticks accounts, the page's script posts."""
    html = client.get(path).content.decode()
    found = LINK_TOKEN.search(html)
    assert found, "the page offers no Link"
    start = plaid.step("start", link_token=found.group(1))
    done = plaid.run_link(found.group(1), "update", **choices)
    response = client.post(
        path,
        json.dumps({"action": "success", "public_token": done["public_token"], "metadata": {}}),
        content_type="application/json",
    )
    return start, response.status_code


def _sync_entries(item: PlaidItem) -> list[dict[str, Any]]:
    return list(
        AuditEntry.objects.filter(action="plaid_item.sync", target_id=item.public_id)
        .order_by("pk")
        .values("payload", "actor_kind")
    )


def test_the_webhook_marks_the_item_and_the_customer_shares_the_new_account(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Any
) -> None:
    new, item = _linked(plaid)
    client = Client()
    assert OFFER not in client.get(new.path).content.decode()
    with pytest.raises(BankLinkSessionUnavailableError):
        services.bank_link_token_create(session=new.session, webhook_url=plaid.inbox.url)

    _announce(plaid, item, django_capture_on_commit_callbacks)

    item.refresh_from_db()
    assert item.new_accounts_available_at is not None
    assert InboundEvent.objects.get(type="ITEM:NEW_ACCOUNTS_AVAILABLE").status == "succeeded"
    [marked] = _sync_entries(item)
    assert marked == {
        "payload": {"changed": {}, "error_code": "", "new_accounts_available": True},
        "actor_kind": "webhook",
    }
    assert item.accounts.count() == 1  # Plaid does not report the new account yet
    session = BankLinkSession.objects.get(pk=new.session.pk)
    assert services.bank_link_needs_update_mode(session=session)
    page = client.get(new.path).content.decode()
    assert OFFER in page
    assert "Share new accounts" in page

    start, status = _share_through_page(plaid, client, new.path)

    assert (start["mode"], start["account_selection"]) == ("update", True)
    assert status == 200
    item.refresh_from_db()
    assert item.new_accounts_available_at is None
    added = item.accounts.get(mask=SAVINGS)
    assert added.name == "Plaid Saving"
    assert added.can_move_money
    assert sorted(item.accounts.values_list("mask", flat=True)) == [CHECKING, SAVINGS]
    shared = _sync_entries(item)[-1]
    assert shared["payload"]["changed"] == {added.public_id: "added"}
    assert shared["payload"]["new_accounts_available"] is False
    page = client.get(new.path).content.decode()
    assert OFFER not in page
    assert "data-link-token" not in page
    assert "Plaid Saving" in page
    assert PlaidItem.objects.count() == 1


def test_an_account_the_merchant_already_has_live_is_refused_and_the_offer_ends(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Any
) -> None:
    customer = new_customer()
    # The same bank login linked twice: Plaid Saving on the first item, Checking on the second.
    _, first = _linked(plaid, customer, account_index=1)
    new, second = _linked(plaid, customer, account_index=0)
    existing = first.accounts.get()
    _announce(plaid, second, django_capture_on_commit_callbacks)

    _, status = _share_through_page(plaid, Client(), new.path)

    assert status == 200
    second.refresh_from_db()
    assert list(second.accounts.values_list("mask", flat=True)) == [CHECKING]
    assert BankAccount.objects.filter(mask=SAVINGS).get() == existing
    assert second.new_accounts_available_at is None
    last = _sync_entries(second)[-1]["payload"]
    assert last == {
        "changed": {},
        "error_code": "",
        "refused_duplicates_of": [existing.public_id],
        "new_accounts_available": False,
    }


def test_a_customer_who_shares_nothing_new_ends_the_offer_and_adds_nothing(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Any
) -> None:
    new, item = _linked(plaid)
    _announce(plaid, item, django_capture_on_commit_callbacks)
    # A replay of the webhook neither sets the mark again nor audits anything more.
    _announce(plaid, item, django_capture_on_commit_callbacks)
    assert len(_sync_entries(item)) == 1

    _, status = _share_through_page(plaid, Client(), new.path, share=())

    assert status == 200
    item.refresh_from_db()
    assert item.new_accounts_available_at is None
    assert item.accounts.count() == 1
    assert _sync_entries(item)[-1]["payload"]["new_accounts_available"] is False


def test_the_merchants_page_says_to_send_the_link_again_while_new_accounts_wait(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Any
) -> None:
    new, item = _linked(plaid)
    owner = member(Role.OWNER, item.merchant)
    merchant_client = verified_client(owner.user, merchant=item.merchant)
    assert MERCHANT_NOTE not in merchant_client.get(reverse("bank-accounts")).content.decode()

    _announce(plaid, item, django_capture_on_commit_callbacks)
    assert MERCHANT_NOTE in merchant_client.get(reverse("bank-accounts")).content.decode()

    _share_through_page(plaid, Client(), new.path)
    page = merchant_client.get(reverse("bank-accounts")).content.decode()
    assert MERCHANT_NOTE not in page
    assert "Plaid Saving" in page
