"""No database transaction is open while an inbound event or a reconcile task reads Plaid or
Stripe.

The handlers of Plaid's item events and Stripe's setup_intent events re-read the processor
before applying; on SQLite a transaction held across that read holds the whole database's
write lock for the length of a network call. The pipeline runs each handler's read first,
with no transaction open, then applies in the event's short transaction. These tests drive
the events through the real path (the webhook endpoint, Celery eager, and the batch of one
Celery message) and record the transaction depth at every Plaid and Stripe call.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from banking.gateways.plaid import client as plaid_client
from banking.models import PlaidItemStatus, VerificationState
from banking.tasks import plaid_items_reconcile_quiet
from inbound import tasks as inbound_tasks
from inbound.models import InboundEvent
from inbound.services import inbound_events_process
from payments import tasks as payment_tasks
from payments.models import Payment, ProcessorAccount
from tests.banking.linking import PlaidSandbox, deliver, new_session
from tests.banking.test_ach import _debit, _linked, stripe_events, stripe_too
from tests.banking.test_stripe_fallback import _awaiting_code, plaid_failed_account
from tests.inbound.webhook_support import deliver as deliver_stripe
from tests.processor_calls import calls_in_transaction

__all__ = ["calls_in_transaction", "stripe_too"]  # the shared fixtures
pytestmark = pytest.mark.django_db


def test_plaid_item_and_micro_deposit_events_read_plaid_outside_transactions(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Any, calls_in_transaction: list[str]
) -> None:
    """Given a same-day account whose code was entered, an automated micro-deposit account
    Plaid verified, and an item whose login broke (and that has new accounts), when the
    webhooks arrive one by one and then as one Celery message's batch, then every Plaid read
    happens outside a transaction and the events are still applied."""
    same_day = new_session()
    code_item = plaid.link(same_day.session, "same_day")
    same_day.session.refresh_from_db()
    plaid.run_link(plaid.link_token(same_day.session), "verify", code="ABC")
    instant = new_session()
    broken_item = plaid.link(instant.session, "instant")
    plaid.for_item(broken_item, "/sandbox/item/reset_login")
    plaid.for_item(broken_item, "/sandbox/item/fire_webhook", webhook_code="NEW_ACCOUNTS_AVAILABLE")
    automated_item = plaid.link(new_session().session, "automated")
    plaid.for_item(
        automated_item,
        "/sandbox/item/set_verification_status",
        account_id=plaid.account_id(automated_item),
        verification_status="automatically_verified",
    )
    hooks = [
        *plaid.signed_webhooks(code_item),
        *plaid.signed_webhooks(broken_item),
        *plaid.signed_webhooks(automated_item),
    ]
    assert {hook.event["webhook_code"] for hook in hooks} >= {
        "SMS_MICRODEPOSITS_VERIFICATION",
        "AUTOMATICALLY_VERIFIED",
        "ERROR",
        "NEW_ACCOUNTS_AVAILABLE",
    }
    calls_in_transaction.clear()  # linking is not under test here

    first, *rest = hooks
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(first)[0] == 200  # one event, processed inline after its commit
    with django_capture_on_commit_callbacks(execute=False):  # stored; the batch runs them
        for hook in rest:
            assert deliver(hook)[0] == 200
    inbound_events_process(event_ids=list(InboundEvent.objects.values_list("pk", flat=True)))

    assert calls_in_transaction == []
    assert set(InboundEvent.objects.values_list("status", flat=True)) <= {"succeeded", "ignored"}
    assert code_item.accounts.get().verification_state == VerificationState.VERIFIED
    broken_item.refresh_from_db()
    assert broken_item.status == PlaidItemStatus.LOGIN_REQUIRED
    assert broken_item.new_accounts_available_at is not None
    verified = automated_item.accounts.get(plaid_account_id=plaid.account_id(automated_item))
    assert verified.verification_state == VerificationState.VERIFIED


@pytest.mark.django_db(transaction=True)
def test_setup_intent_events_read_stripe_outside_transactions(
    stripe_too: PlaidSandbox, calls_in_transaction: list[str]
) -> None:
    """Given a Stripe micro-deposit verification completed on Stripe's hosted page, when its
    setup_intent events reach /webhooks/stripe/, then the SetupIntent is read back outside any
    transaction and the account is verified."""
    _, account = plaid_failed_account(stripe_too)
    verification = _awaiting_code(stripe_too, account)
    connected = ProcessorAccount.objects.get(merchant=account.merchant).stripe_account_id
    intent = stripe_too.control.stripe_object(verification.stripe_setup_intent_id)["object"]
    hosted = intent["next_action"]["verify_with_microdeposits"]["hosted_verification_url"]
    requests.post(
        hosted,
        data={"client_secret": intent["client_secret"], "descriptor_code": "SM11AA"},
        timeout=5,
    )
    events = [e for e in stripe_events(stripe_too, connected) if e["type"].startswith("setup_")]
    assert {e["type"] for e in events} >= {"setup_intent.requires_action", "setup_intent.succeeded"}
    calls_in_transaction.clear()

    client = Client()
    for event in events:
        assert deliver_stripe(client, event).status_code == 200

    assert calls_in_transaction == []
    account.refresh_from_db()
    assert account.verification_state == VerificationState.VERIFIED


def test_reconcile_tasks_read_the_processors_outside_transactions(
    stripe_too: PlaidSandbox, calls_in_transaction: list[str]
) -> None:
    """Beat's reconcile tasks (Plaid items, a stuck ACH debit, undelivered Stripe events) read
    the processors with no transaction open."""
    payment = _debit(_linked(stripe_too))
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    calls_in_transaction.clear()

    assert plaid_items_reconcile_quiet(quiet_after_seconds=-60)["synced"] == 1
    assert payment_tasks.payments_reconcile_stuck() == 1
    inbound_tasks.inbound_events_reconcile()

    assert calls_in_transaction == []


def test_a_plaid_read_that_fails_leaves_the_event_to_retry_and_it_applies_once_later(
    plaid: PlaidSandbox, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given Plaid answering 500 to every /item/get, when an item's ERROR webhook is processed
    (alone, then in a batch with another event), then it is failed with a next attempt and
    nothing of the item changed; once Plaid answers, the retry applies it (after Plaid's
    breaker, opened by the outage, lets a probe through)."""
    monkeypatch.setattr(plaid_client, "BREAKER_RESET_TIMEOUT_SECONDS", 0.2)
    plaid_client.breaker_reset()
    item = plaid.link(new_session().session, "instant")
    plaid.for_item(item, "/sandbox/item/reset_login")
    plaid.for_item(item, "/sandbox/item/fire_webhook", webhook_code="NEW_ACCOUNTS_AVAILABLE")
    error, news = plaid.signed_webhooks(item)
    plaid.control.add_fault("error_500", count=1000, path="/item/get")

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(error)[0] == 200
    with django_capture_on_commit_callbacks(execute=False):
        assert deliver(news)[0] == 200
    pks = list(InboundEvent.objects.order_by("pk").values_list("pk", flat=True))
    inbound_events_process(event_ids=pks)

    for event in InboundEvent.objects.all():
        assert (event.status, event.attempts) == ("failed", 1 + (event.pk == pks[0]))
        assert event.next_attempt_at is not None
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.ACTIVE

    plaid.control.clear_faults()
    time.sleep(0.25)
    inbound_events_process(event_ids=pks)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"succeeded"}
    item.refresh_from_db()
    assert item.status == PlaidItemStatus.LOGIN_REQUIRED
    assert item.new_accounts_available_at is not None
