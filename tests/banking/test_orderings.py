"""Every order of four interacting Plaid webhooks, each delivered five times, ends the same.

The webhooks are the sandbox's own, signed as Plaid signs them, caught once and then replayed
byte for byte to `/webhooks/plaid/` in all 24 orders. Plaid sends no event id, so duplicates
are dropped by body hash, and handlers re-read the item from Plaid (whose state is final by
then), so order and repetition must not matter. Each order runs in a savepoint rolled back
afterwards: one linked item serves all 24, with Celery eager through the real pipeline.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from banking.models import BankAccount, BankLinkSession, PlaidItem
from inbound.models import InboundEvent
from tests.banking.linking import PlaidSandbox, Received, deliver, new_session

pytestmark = pytest.mark.django_db
DELIVERIES = 5
State = tuple[Any, ...]


def _state(item: PlaidItem) -> State:
    item.refresh_from_db()
    accounts = tuple(
        (a.plaid_account_id, a.verification_state, a.verification_status, a.routing_fingerprint)
        for a in BankAccount.objects.filter(item=item).order_by("plaid_account_id")
    )
    events = tuple(
        sorted(InboundEvent.objects.filter(provider="plaid").values_list("type", "status"))
    )
    return item.status, item.error_code, accounts, events


def _same_day_item_with_webhooks(
    plaid: PlaidSandbox, item_codes: tuple[str, ...]
) -> tuple[PlaidItem, dict[str, Received]]:
    """A same-day item linked through Link; then at Plaid, in this order: the code accepted
    (AUTH), the login broken (ITEM: ERROR) and then the other ITEM codes."""
    new = new_session()
    item = plaid.link(new.session, "same_day")
    session = BankLinkSession.objects.get(pk=new.session.pk)
    plaid.run_link(plaid.link_token(session), "verify", code="ABC")
    plaid.for_item(item, "/sandbox/item/reset_login")
    for code in item_codes:
        plaid.control.plaid_fire_webhook(item.item_id, code)
    hooks = {h.event["webhook_code"]: h for h in plaid.signed_webhooks(item)}
    assert set(hooks) == {"SMS_MICRODEPOSITS_VERIFICATION", "ERROR", *item_codes}
    return item, hooks


def _run_orderings(
    item: PlaidItem, hooks: list[Received], capture: Callable[..., Any]
) -> dict[tuple[str, ...], State]:
    results: dict[tuple[str, ...], State] = {}
    for order in itertools.permutations(hooks):
        with transaction.atomic():
            for _ in range(DELIVERIES):
                for hook in order:
                    with capture(execute=True):
                        status, _answer = deliver(hook)
                    assert status == 200
            results[tuple(h.event["webhook_code"] for h in order)] = _state(item)
            transaction.set_rollback(True)
    return results


def test_every_order_of_code_login_error_repair_and_new_accounts_converges(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    item, hooks = _same_day_item_with_webhooks(plaid, ("LOGIN_REPAIRED", "NEW_ACCOUNTS_AVAILABLE"))
    before = _state(item)
    results = _run_orderings(item, list(hooks.values()), django_capture_on_commit_callbacks)
    assert len(results) == 24
    assert set(results.values()) == {results[next(iter(results))]}, results
    status, error_code, accounts, events = next(iter(results.values()))
    assert (status, error_code) == ("active", "")
    ((_, state, plaid_status, fingerprint),) = accounts
    assert (state, plaid_status) == ("verified", "manually_verified")
    assert fingerprint
    # Each webhook stored once (20 deliveries, 4 events) and applied.
    assert events == (
        ("AUTH:SMS_MICRODEPOSITS_VERIFICATION", "succeeded"),
        ("ITEM:ERROR", "succeeded"),
        ("ITEM:LOGIN_REPAIRED", "succeeded"),
        ("ITEM:NEW_ACCOUNTS_AVAILABLE", "succeeded"),
    )
    # Every order was rolled back: the item is as linked.
    assert _state(item) == before


def test_every_order_of_code_login_error_repair_and_pending_expiration_converges(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    item, hooks = _same_day_item_with_webhooks(plaid, ("LOGIN_REPAIRED", "PENDING_EXPIRATION"))
    results = _run_orderings(item, list(hooks.values()), django_capture_on_commit_callbacks)
    assert len(results) == 24
    assert len(set(results.values())) == 1, sorted(set(results.values()))
    status, error_code, accounts, _events = next(iter(results.values()))
    # Plaid's item ends repaired with its consent expiring in 7 days: that is what we show.
    assert (status, error_code) == ("pending_expiration", "")
    assert accounts[0][1] == "verified"
