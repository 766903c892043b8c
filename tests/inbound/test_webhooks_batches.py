"""A message's events applied in one transaction, and one by one when anything in it fails.

Given several stored events handed to the worker as one message, when every handler succeeds
they are applied together (one transaction, each event's outcome saved once); when one handler
raises, nothing of the shared transaction remains and each event is applied in its own, so
the failure is recorded against that event only and every other event is applied exactly once.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditEntry
from inbound import registry
from inbound.models import InboundEvent, InboundEventStatus
from inbound.services import ingest, processing
from payments.models import Payment, ProcessorAccount
from payments.state import PaymentStatus
from tests.inbound.webhook_support import (
    database_url,
    event_payload,
    processor_authenticates,
    sandbox_events,
    three_ds_payment,
)
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _store_payloads(payloads: list[dict[str, Any]]) -> list[int]:
    pks = []
    for payload in payloads:
        result = ingest.inbound_event_ingest(
            provider="stripe",
            event_id=payload["id"],
            event_type=payload["type"],
            account=payload.get("account") or "",
            payload=payload,
        )
        assert result.event_pk is not None
        pks.append(result.event_pk)
    return pks


def _store(count: int, event_type: str = "customer.created") -> list[int]:
    return _store_payloads([event_payload(event_type, account=None) for _ in range(count)])


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every event a `customer.created` handler applied, in order (the effect to count)."""
    calls: list[str] = []

    def handler(event: InboundEvent) -> None:
        if event.event_id.endswith("poison"):
            raise ValueError("this event cannot be applied")
        calls.append(event.event_id)

    monkeypatch.setitem(registry._handlers, ("stripe", "customer.created"), handler)
    return calls


def _statuses(pks: list[int]) -> list[tuple[str, int]]:
    rows = dict(InboundEvent.objects.filter(pk__in=pks).values_list("pk", "status"))
    attempts = dict(InboundEvent.objects.filter(pk__in=pks).values_list("pk", "attempts"))
    return [(rows[pk], attempts[pk]) for pk in pks]


@pytest.mark.postgres
def test_a_batch_is_applied_in_one_transaction(stored_only, applied):
    pks = _store(10)
    with CaptureQueriesContext(connection) as queries:
        processing.inbound_events_process(event_ids=pks)
    assert _statuses(pks) == [(InboundEventStatus.SUCCEEDED, 1)] * 10
    assert len(applied) == 10
    sql = [q["sql"] for q in queries]
    # One lock query and one outcome UPDATE for the ten events, inside one transaction.
    assert sum(s.startswith("BEGIN") for s in sql) <= 1
    assert sum("FOR UPDATE SKIP LOCKED" in s for s in sql) == 1
    assert sum(s.startswith('UPDATE "payments_inboundevent"') for s in sql) == 1
    # A second delivery of the same message changes nothing.
    processing.inbound_events_process(event_ids=pks)
    assert len(applied) == 10
    assert _statuses(pks) == [(InboundEventStatus.SUCCEEDED, 1)] * 10


def test_one_failing_handler_leaves_the_rest_applied_once_and_only_itself_failed(
    stored_only, applied
):
    pks = _store(5)
    poison = InboundEvent.objects.get(pk=pks[2])
    InboundEvent.objects.filter(pk=poison.pk).update(event_id=f"{poison.event_id}-poison")
    processing.inbound_events_process(event_ids=pks)
    statuses = _statuses(pks)
    assert statuses[2] == (InboundEventStatus.FAILED, 1)
    assert statuses[:2] + statuses[3:] == [(InboundEventStatus.SUCCEEDED, 1)] * 4
    # The shared attempt applied two events before the poison one and was rolled back; the
    # one-by-one pass applied the four again: each is now applied (and recorded) once.
    assert sorted(set(applied)) == sorted(
        InboundEvent.objects.filter(status=InboundEventStatus.SUCCEEDED).values_list(
            "event_id", flat=True
        )
    )
    assert "ValueError" in InboundEvent.objects.get(pk=pks[2]).last_error


@pytest.mark.postgres
def test_events_held_by_another_worker_or_done_are_left_alone(stored_only, applied):
    pks = _store(4)
    processing.inbound_event_process(event_id=pks[0])  # done already
    holder = psycopg.connect(database_url())
    try:
        # Another worker is applying the second event right now.
        holder.execute("SELECT 1 FROM payments_inboundevent WHERE id = %s FOR UPDATE", [pks[1]])
        processing.inbound_events_process(event_ids=pks)
    finally:
        holder.rollback()
        holder.close()
    assert _statuses(pks) == [
        (InboundEventStatus.SUCCEEDED, 1),
        (InboundEventStatus.RECEIVED, 0),
        (InboundEventStatus.SUCCEEDED, 1),
        (InboundEventStatus.SUCCEEDED, 1),
    ]
    assert len(applied) == 3


def _succeeded_payload(payment: Payment, account: str) -> dict[str, Any]:
    intent = {
        "id": payment.stripe_payment_intent_id,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": payment.amount,
        "amount_received": payment.amount,
        "amount_capturable": 0,
        "currency": payment.currency,
        "latest_charge": f"ch_{payment.stripe_payment_intent_id[3:]}",
        "metadata": {},
    }
    return event_payload("payment_intent.succeeded", obj=intent, account=account)


def test_final_payment_events_lock_their_payments_in_one_query_and_audit_in_one_insert(
    stored_only, merchant
):
    ProcessorAccount.objects.create(merchant=merchant, stripe_account_id="acct_batch")
    payments = [
        PaymentFactory(
            merchant=merchant,
            status=PaymentStatus.PROCESSING,
            stripe_payment_intent_id=f"pi_batch_{index}",
        )
        for index in range(10)
    ]
    pks = _store_payloads([_succeeded_payload(payment, "acct_batch") for payment in payments])
    with CaptureQueriesContext(connection) as queries:
        processing.inbound_events_process(event_ids=pks)
    assert _statuses(pks) == [(InboundEventStatus.SUCCEEDED, 1)] * 10
    for payment in payments:
        payment.refresh_from_db()
        assert (payment.status, payment.amount_captured) == (PaymentStatus.SUCCEEDED, 1500)
    audited = AuditEntry.objects.filter(action="payment.status_change", actor_kind="webhook")
    assert sorted(audited.values_list("target_id", flat=True)) == sorted(
        payment.public_id for payment in payments
    )
    sql = [q["sql"] for q in queries]
    assert sum(s.startswith("SELECT") and 'FROM "payments_payment"' in s for s in sql) == 1
    assert sum(s.startswith('UPDATE "payments_payment"') for s in sql) == 10
    assert sum(s.startswith('INSERT INTO "compliance_auditentry"') for s in sql) == 1


def test_a_final_event_and_a_refund_of_its_payment_in_one_batch_both_hold(
    stored_only, api, merchant, sandbox_control
):
    payment = three_ds_payment(api)
    processor_authenticates(sandbox_control, payment)
    account = ProcessorAccount.objects.get(merchant=merchant).stripe_account_id
    requests.post(
        f"{sandbox_control.url}/v1/refunds",
        data={"payment_intent": payment.stripe_payment_intent_id, "amount": 500},
        headers={"Authorization": "Bearer sk_test_ledgerline_sandbox", "Stripe-Account": account},
        timeout=5,
    ).raise_for_status()
    [refunded] = sandbox_events(sandbox_control, account=account, event_type="charge.refunded")
    [succeeded] = sandbox_events(
        sandbox_control, account=account, event_type="payment_intent.succeeded"
    )
    # The refund is stored first: the batch must not apply the success over what it wrote.
    pks = _store_payloads([refunded, succeeded])
    processing.inbound_events_process(event_ids=pks)
    payment.refresh_from_db()
    assert _statuses(pks) == [(InboundEventStatus.SUCCEEDED, 1)] * 2
    assert payment.status == PaymentStatus.SUCCEEDED
    assert (payment.amount_captured, payment.amount_refunded) == (5000, 500)
    assert (
        AuditEntry.objects.filter(
            action="payment.status_change", target_id=payment.public_id, actor_kind="webhook"
        ).count()
        == 1
    )
