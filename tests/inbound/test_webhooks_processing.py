"""Processing inbound Stripe events: handlers, forward-only state, failures, dead letter, replay.

Given events the sandbox really produced for a payment, when they are delivered to the endpoint
(Celery eager here: processed after commit), then the payment, refund, dispute or account
follows the processor, audited as the Stripe webhook, and never moves backwards.
"""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from compliance.models import AuditEntry
from inbound import registry
from inbound.models import InboundEvent, InboundEventStatus
from inbound.services import processing, replay
from payments import event_handlers
from payments.models import Dispute, Payment, ProcessorAccount
from payments.state import PaymentStatus
from tests.inbound.webhook_support import (
    deliver,
    event_payload,
    processor_authenticates,
    sandbox_events,
    three_ds_payment,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _pay(api, payment_method: str = "pm_card_visa", **extra) -> dict:
    body = {"amount": 2000, "currency": "gbp", "payment_method": payment_method, **extra}
    response = api.post("/api/v1/payments", body, format="json")
    assert response.status_code in (201, 402), response.content
    return response.json()


def _account(merchant) -> str:
    return ProcessorAccount.objects.get(merchant=merchant).stripe_account_id


def _deliver_all(events: list[dict]) -> list[InboundEvent]:
    client = Client()
    for event in events:
        assert deliver(client, event).status_code == 200
    return [InboundEvent.objects.get(event_id=e["id"]) for e in events]


def _three_ds_payment_approved_at_the_processor(api, sandbox_control) -> Payment:
    payment = three_ds_payment(api, amount=2000)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    processor_authenticates(sandbox_control, payment)
    return payment


def test_payment_intent_succeeded_moves_the_payment_forward_audited_as_the_webhook(
    api, merchant, sandbox_control
):
    payment = _three_ds_payment_approved_at_the_processor(api, sandbox_control)
    events = sandbox_events(
        sandbox_control, account=_account(merchant), event_type="payment_intent.succeeded"
    )
    [event] = _deliver_all(events)
    payment.refresh_from_db()
    assert event.status == InboundEventStatus.SUCCEEDED
    assert event.merchant == merchant
    assert event.attempts == 1
    assert event.processed_at is not None
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_captured == 2000
    entry = AuditEntry.objects.filter(action="payment.status_change", target_id=payment.public_id)
    assert entry.filter(actor_kind="webhook", actor_id="stripe").count() == 1


def test_an_older_event_never_moves_the_payment_backwards(api, merchant, sandbox_control):
    payment = _three_ds_payment_approved_at_the_processor(api, sandbox_control)
    events = sandbox_events(sandbox_control, account=_account(merchant))
    by_type = {e["type"]: e for e in events}
    # Newest first: the success, then the older requires_action arriving late.
    _deliver_all([by_type["payment_intent.succeeded"], by_type["payment_intent.requires_action"]])
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    late = InboundEvent.objects.get(event_id=by_type["payment_intent.requires_action"]["id"])
    assert late.status == InboundEventStatus.SUCCEEDED


def test_a_non_final_payload_is_replaced_by_the_processors_current_object(
    api, merchant, sandbox_control
):
    payment = _three_ds_payment_approved_at_the_processor(api, sandbox_control)
    [requires_action] = sandbox_events(
        sandbox_control, account=_account(merchant), event_type="payment_intent.requires_action"
    )
    # Only the stale event arrives (the success was lost): the refetch still settles it.
    _deliver_all([requires_action])
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_an_event_for_a_payment_made_elsewhere_is_ignored_not_failed(merchant, sandbox_control):
    account = ProcessorAccount.objects.create(merchant=merchant, stripe_account_id="acct_other")
    obj = {"id": "pi_not_ours", "object": "payment_intent", "status": "succeeded", "metadata": {}}
    [event] = _deliver_all(
        [event_payload("payment_intent.succeeded", obj=obj, account=account.stripe_account_id)]
    )
    assert event.status == InboundEventStatus.IGNORED
    assert event.last_error == "not a Ledgerline payment"


def test_a_dispute_is_created_then_moved_forward_only(api, merchant, sandbox_control):
    data = _pay(api, "pm_card_createDispute")
    payment = Payment.objects.get(public_id=data["id"])
    [created] = sandbox_events(
        sandbox_control, account=_account(merchant), event_type="charge.dispute.created"
    )
    _deliver_all([created])
    dispute = Dispute.objects.get(payment=payment)
    assert dispute.status == "needs_response"
    assert dispute.amount == 2000
    closed = event_payload(
        "charge.dispute.closed",
        account=_account(merchant),
        obj={**created["data"]["object"], "status": "lost"},
    )
    stale = event_payload(
        "charge.dispute.updated",
        account=_account(merchant),
        obj={**created["data"]["object"], "status": "under_review"},
    )
    _deliver_all([closed, stale])
    dispute.refresh_from_db()
    assert dispute.status == "lost"
    actions = list(
        AuditEntry.objects.filter(target_id=dispute.public_id)
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["dispute.create", "dispute.status_change"]


def test_account_updated_applies_the_accounts_current_capabilities(api, merchant, sandbox_control):
    _pay(api)  # creates the connected account
    account = _account(merchant)
    response = requests.post(
        f"{sandbox_control.url}/_sandbox/stripe/accounts/{account}/update",
        json={"charges_enabled": False},
        timeout=5,
    )
    response.raise_for_status()
    events = sandbox_events(sandbox_control, account=account, event_type="account.updated")
    _deliver_all(events[-1:])
    assert ProcessorAccount.objects.get(merchant=merchant).charges_enabled is False
    assert AuditEntry.objects.filter(
        action="merchant.processor_account_update", actor_kind="webhook"
    ).exists()


def test_charge_refunded_at_the_processor_updates_the_refunded_amount(
    api, merchant, sandbox_control
):
    data = _pay(api)
    payment = Payment.objects.get(public_id=data["id"])
    account = _account(merchant)
    response = requests.post(
        f"{sandbox_control.url}/v1/refunds",
        data={"payment_intent": payment.stripe_payment_intent_id, "amount": 500},
        headers={"Authorization": "Bearer sk_test_ledgerline_sandbox", "Stripe-Account": account},
        timeout=5,
    )
    response.raise_for_status()
    events = sandbox_events(sandbox_control, account=account, event_type="charge.refunded")
    [event] = _deliver_all(events)
    payment.refresh_from_db()
    assert event.status == InboundEventStatus.SUCCEEDED
    assert payment.amount_refunded == 500


def test_charge_refund_updated_settles_a_pending_refund_of_ours(api, merchant, sandbox_control):
    data = _pay(api)
    refund_data = api.post(
        f"/api/v1/payments/{data['id']}/refunds", {"amount": 300}, format="json"
    ).json()
    from payments.models import Refund

    refund = Refund.objects.get(public_id=refund_data["id"])
    Refund.objects.filter(pk=refund.pk).update(status="pending")
    obj = {
        "id": refund.stripe_refund_id,
        "object": "refund",
        "status": "succeeded",
        "amount": 300,
        "currency": "gbp",
        "metadata": {"ledgerline_refund": refund.public_id},
    }
    [event] = _deliver_all(
        [event_payload("charge.refund.updated", obj=obj, account=_account(merchant))]
    )
    refund.refresh_from_db()
    assert event.status == InboundEventStatus.SUCCEEDED
    assert refund.status == "succeeded"


def test_one_failing_handler_retries_with_backoff_then_dead_letters_and_replays_once(
    api, merchant, sandbox_control, monkeypatch
):
    payment = _three_ds_payment_approved_at_the_processor(api, sandbox_control)
    account = _account(merchant)
    obj = {
        "id": "dp_broken",
        "object": "dispute",
        "status": "needs_response",
        "amount": 2000,
        "currency": "gbp",
        "payment_intent": payment.stripe_payment_intent_id,
    }
    broken_event = event_payload("charge.dispute.created", obj=obj, account=account)

    def broken(event):
        raise RuntimeError("handler bug sk_test_abcdefghijklmnopqrstuvwxyz should be masked")

    key = ("stripe", "charge.dispute.created")
    monkeypatch.setitem(registry._handlers, key, broken)
    [succeeded] = sandbox_events(
        sandbox_control, account=account, event_type="payment_intent.succeeded"
    )
    failed, ok = _deliver_all([broken_event, succeeded])

    # Other types are unaffected.
    assert ok.status == InboundEventStatus.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    # The failure is kept, with the error (secrets masked) and a backoff.
    failed.refresh_from_db()
    assert failed.status == InboundEventStatus.FAILED
    assert failed.attempts == 1
    assert "RuntimeError: handler bug" in failed.last_error
    assert "abcdefghijklmnop" not in failed.last_error
    first_delay = (failed.next_attempt_at - failed.received_at).total_seconds()
    assert 25 <= first_delay <= 40
    for attempt in range(2, processing.MAX_ATTEMPTS + 1):
        processing.inbound_event_process(event_id=failed.pk)
        failed.refresh_from_db()
        assert failed.attempts == attempt
    assert failed.status == InboundEventStatus.DEAD
    assert failed.next_attempt_at is None
    assert AuditEntry.objects.filter(action="inbound_event.dead_letter").count() == 1
    # Dead means done: nothing runs it again by itself.
    assert processing.inbound_event_process(event_id=failed.pk) == InboundEventStatus.DEAD
    assert not Dispute.objects.exists()

    # The fix ships; staff replay it: applied exactly once, however often it is replayed.
    monkeypatch.setitem(registry._handlers, key, event_handlers._on_dispute)
    from compliance.actors import Actor

    assert replay.inbound_event_replay(event=failed, actor=Actor.system("test")) is True
    failed.refresh_from_db()
    assert failed.status == InboundEventStatus.SUCCEEDED
    assert replay.inbound_event_replay(event=failed, actor=Actor.system("test")) is False
    processing.inbound_event_process(event_id=failed.pk)
    assert Dispute.objects.filter(stripe_dispute_id="dp_broken").count() == 1
    assert AuditEntry.objects.filter(action="dispute.create").count() == 1
    assert AuditEntry.objects.filter(action="inbound_event.replay").count() == 1


def test_backoff_grows_exponentially_and_is_capped():
    delays = [processing._backoff(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == processing.BACKOFF_MAX_SECONDS
    assert delays == sorted(delays)
