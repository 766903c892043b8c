"""Braintree's notifications delivered as they really arrive: duplicated, concurrently and in
any order. Whatever the order, each has one effect and the rows end where Braintree's state
machine puts them (the Stripe pipeline's delivery tests, for Braintree)."""

from __future__ import annotations

import itertools
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client

from compliance.models import AuditEntry
from inbound.models import InboundEvent, OutboxEntry
from payments.models import Dispute, Payment, ProcessorAccount
from payments.state import PaymentStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import settle
from tests.payments.braintree.test_webhooks import (
    capture_at_processor,
    notification,
    pay,
    post,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _lifecycle(control: SandboxControl, account: ProcessorAccount) -> tuple[Payment, list[Any]]:
    """An authorised payment captured and settled at Braintree, and the notifications of each
    state it passed through (signed at the time, oldest first)."""
    payment = pay(account, capture=False)
    txn = payment.processor_payment_id
    authorised = notification(control, "transaction_settled", txn)
    capture_at_processor(payment)
    submitted = notification(control, "transaction_settled", txn)
    settle(control, txn)
    settled = notification(control, "transaction_settled", txn)
    return payment, [authorised, submitted, settled]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_notification_delivered_three_times_concurrently_has_exactly_one_effect(
    bt_account: ProcessorAccount, bt_control: SandboxControl, live_server: Any, caplog: Any
) -> None:
    lifecycles = [_lifecycle(bt_control, bt_account) for _ in range(3)]
    bodies = [urlencode(fields) for _, notes in lifecycles for fields in notes]
    deliveries = [body for body in bodies for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    url = f"{live_server.url}/webhooks/braintree/"
    caplog.set_level(logging.INFO)

    def deliver(body: str) -> int:
        return requests.post(url, data=body, headers=FORM, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=9) as pool:
        statuses = list(pool.map(deliver, deliveries))

    assert statuses == [200] * len(deliveries)
    assert InboundEvent.objects.filter(provider="braintree").count() == len(set(bodies))
    assert OutboxEntry.objects.count() == len(set(bodies))
    assert not InboundEvent.objects.filter(status__in=("received", "failed", "dead")).exists()
    for payment, _ in lifecycles:
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED
        changes = AuditEntry.objects.filter(
            action="payment.status_change", target_id=payment.public_id, actor_kind="webhook"
        )
        assert changes.count() == 1
    assert "IntegrityError" not in caplog.text


def test_every_order_of_a_payments_notifications_converges(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for order in itertools.permutations(range(3)):
        payment, notes = _lifecycle(bt_control, bt_account)
        for index in order:
            response = post(client, notes[index], django_capture_on_commit_callbacks)
            assert response.status_code == 200
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED, order
        assert payment.amount_captured == payment.amount


def test_every_order_of_a_disputes_notifications_converges(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for order in itertools.permutations(range(3)):
        payment = pay(bt_account, amount=4100)
        settle(bt_control, payment.processor_payment_id)
        txn = bt_control.braintree("POST", f"transactions/{payment.processor_payment_id}/dispute")
        dispute_id = txn["dispute_ids"][0]
        opened = notification(bt_control, "dispute_opened", dispute_id)
        bt_control.braintree("POST", f"disputes/{dispute_id}/resolve", {"outcome": "lost"})
        lost = notification(bt_control, "dispute_lost", dispute_id)
        replayed = {**opened}  # a redelivery of the first
        notes = [opened, lost, replayed]
        for index in order:
            assert post(client, notes[index], django_capture_on_commit_callbacks).status_code == 200
        assert Dispute.objects.get(processor_dispute_id=dispute_id).status == "lost", order
