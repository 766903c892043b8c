"""Stripe's delivery habits: every event three times at once, and in any order.

Given events the sandbox produced for real payments, when each is delivered three times
concurrently (PostgreSQL, a threaded live server), then every delivery is acknowledged 2xx,
each event is stored and applied once, and no IntegrityError is logged. When a payment's
lifecycle events arrive in 100 random orders, the payment always ends as the processor has it.
"""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from compliance.models import AuditEntry
from inbound.models import InboundEvent, OutboxEntry
from inbound.services import ingest, processing
from payments import services
from payments.models import Payment, ProcessorAccount
from payments.state import PaymentStatus
from tests.inbound.webhook_support import (
    processor_authenticates,
    sandbox_events,
    signed,
    three_ds_payment,
)

SHUFFLES = 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_event_delivered_three_times_concurrently_has_exactly_one_effect(
    api, merchant, sandbox_control, live_server, caplog
):
    payments = [three_ds_payment(api) for _ in range(4)]
    for payment in payments:
        processor_authenticates(sandbox_control, payment, "approve")
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    events = sandbox_events(sandbox_control, account=account)
    assert len(events) >= 4 * 4
    url = f"{live_server.url}/webhooks/stripe/"
    bodies = [json.dumps(event).encode() for event in events]
    deliveries = [body for body in bodies for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    caplog.set_level(logging.INFO)

    def post(body: bytes) -> int:
        return requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signed(body)},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(post, deliveries))

    assert statuses == [200] * len(deliveries)
    assert InboundEvent.objects.count() == len(events)
    assert OutboxEntry.objects.count() == len(events)
    assert not InboundEvent.objects.filter(status__in=("received", "failed", "dead")).exists()
    for payment in payments:
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED
        changes = AuditEntry.objects.filter(
            action="payment.status_change", target_id=payment.public_id, actor_kind="webhook"
        )
        assert changes.count() == 1
    assert "IntegrityError" not in caplog.text
    assert "duplicate key" not in caplog.text


def _processor_intent(sandbox_control, account: str, payment: Payment) -> dict:
    return sandbox_control.api_get(
        f"/v1/payment_intents/{payment.stripe_payment_intent_id}",
        account=account,
        **{"expand[]": "latest_charge"},
    )


def _replay_in_random_orders(payment: Payment, events: list[dict], seed: int) -> list[tuple]:
    rng = random.Random(seed)
    outcomes = []
    for _ in range(SHUFFLES):
        Payment.objects.filter(pk=payment.pk).update(
            status=PaymentStatus.REQUIRES_ACTION,
            amount_captured=0,
            amount_capturable=0,
            amount_refunded=0,
        )
        InboundEvent.objects.all().delete()
        order = events[:]
        rng.shuffle(order)
        for event in order:
            result = ingest.inbound_event_ingest(
                provider="stripe",
                event_id=event["id"],
                event_type=event["type"],
                account=event["account"],
                payload=event,
            )
            assert processing.inbound_event_process(event_id=result.event_pk) in (
                "succeeded",
                "ignored",
            )
        payment.refresh_from_db()
        outcomes.append(
            (
                payment.status,
                payment.amount_captured,
                payment.amount_capturable,
                payment.amount_refunded,
            )
        )
    return outcomes


@pytest.mark.django_db
def test_100_shuffles_of_a_capture_and_refund_lifecycle_converge(api, merchant, sandbox_control):
    payment = three_ds_payment(api, capture_method="manual")
    processor_authenticates(sandbox_control, payment, "approve")
    services.payment_reconcile(payment=payment)  # our row learns it is capturable
    captured = api.post(f"/api/v1/payments/{payment.public_id}/capture", {}, format="json")
    assert captured.status_code == 200, captured.content
    refund = api.post(
        f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 1200}, format="json"
    )
    assert refund.status_code == 201, refund.content
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    events = sandbox_events(sandbox_control, account=account)
    types = {e["type"] for e in events}
    assert {
        "payment_intent.requires_action",
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "charge.refunded",
    } <= types
    intent = _processor_intent(sandbox_control, account, payment)
    expected = (intent["status"], intent["amount_received"], 0, 1200)

    outcomes = _replay_in_random_orders(payment, events, seed=1)
    assert set(outcomes) == {expected}


@pytest.mark.django_db
def test_100_shuffles_of_a_failed_authentication_converge(api, merchant, sandbox_control):
    payment = three_ds_payment(api)
    processor_authenticates(sandbox_control, payment, "fail")
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    events = sandbox_events(sandbox_control, account=account)
    assert {"payment_intent.requires_action", "payment_intent.payment_failed"} <= {
        e["type"] for e in events
    }
    intent = _processor_intent(sandbox_control, account, payment)
    assert intent["status"] == PaymentStatus.REQUIRES_PAYMENT_METHOD

    outcomes = _replay_in_random_orders(payment, events, seed=2)
    assert set(outcomes) == {(PaymentStatus.REQUIRES_PAYMENT_METHOD, 0, 0, 0)}
