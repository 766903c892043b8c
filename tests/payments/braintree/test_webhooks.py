"""`/webhooks/braintree/`: Braintree's signed form (`bt_signature`, `bt_payload`) verified by
the SDK with the keys of the merchant whose public key signed it, stored once through the
inbound pipeline, applied forward only; duplicates and late notifications change nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from compliance.actors import Actor
from compliance.models import AuditEntry
from inbound.models import InboundEvent, InboundEventStatus
from payments import services
from payments.braintree_events import braintree_transactions_reconcile
from payments.gateways import gateway_named
from payments.models import CaptureMethod, Dispute, Payment, ProcessorAccount, Refund
from payments.state import PaymentStatus, RefundStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID, settle

URL = "/webhooks/braintree/"
ACTOR = Actor.system("tests")


def notification(control: SandboxControl, kind: str, subject_id: str) -> dict[str, str]:
    """A notification signed by the sandbox with the merchant's keys, its subject as it is now."""
    return control.braintree_sample_notification(kind, subject_id)


def post(client: Client, fields: dict[str, str], capture: Any) -> Any:
    """POST as Braintree does: form-encoded, processed once committed (eager Celery)."""
    with capture(execute=True):
        return client.post(
            URL, data=urlencode(fields), content_type="application/x-www-form-urlencoded"
        )


def pay(account: ProcessorAccount, *, capture: bool = True, amount: int = 5000) -> Payment:
    return services.payment_create(
        merchant=account.merchant,
        actor=ACTOR,
        amount=amount,
        currency="usd",
        payment_method="fake-valid-nonce",
        capture_method=CaptureMethod.AUTOMATIC if capture else CaptureMethod.MANUAL,
    )


def capture_at_processor(payment: Payment) -> None:
    """Braintree captures (e.g. from its control panel): only a notification tells us."""
    gateway_named("braintree").charge_capture(
        account=MERCHANT_ID, charge=payment.processor_payment_id, amount=None, key="k"
    )


def test_a_payment_made_through_braintree_records_the_processor(
    bt_account: ProcessorAccount,
) -> None:
    payment = pay(bt_account)
    assert payment.processor == "braintree"
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.processor_payment_id


def test_a_settlement_notification_moves_the_payment_forward_once(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, capture=False)
    assert payment.status == PaymentStatus.REQUIRES_CAPTURE
    capture_at_processor(payment)
    settle(bt_control, payment.processor_payment_id)
    fields = notification(bt_control, "transaction_settled", payment.processor_payment_id)

    first = post(client, fields, django_capture_on_commit_callbacks)
    again = post(client, fields, django_capture_on_commit_callbacks)

    assert first.status_code == again.status_code == 200
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_captured == 5000
    event = InboundEvent.objects.get(provider="braintree")
    assert event.status == InboundEventStatus.SUCCEEDED
    assert event.merchant_id == bt_account.merchant_id
    assert event.type == "transaction_settled"
    changes = AuditEntry.objects.filter(
        action="payment.status_change", target_id=payment.public_id, actor_kind="webhook"
    )
    assert changes.count() == 1


def test_an_older_notification_after_a_newer_one_changes_nothing(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, capture=False)
    # Signed while the transaction was only authorised, delivered last.
    stale = notification(bt_control, "transaction_settled", payment.processor_payment_id)
    capture_at_processor(payment)
    settle(bt_control, payment.processor_payment_id)
    fresh = notification(bt_control, "transaction_settled", payment.processor_payment_id)

    assert post(client, fresh, django_capture_on_commit_callbacks).status_code == 200
    assert post(client, stale, django_capture_on_commit_callbacks).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert InboundEvent.objects.filter(provider="braintree").count() == 2


def test_a_settled_credit_completes_the_refund(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, amount=8000)
    settle(bt_control, payment.processor_payment_id)
    refund = services.refund_create(payment=payment, actor=ACTOR, amount=3000)
    assert refund.status == RefundStatus.PENDING
    assert refund.processor_refund_id
    settle(bt_control, refund.processor_refund_id)
    fields = notification(bt_control, "transaction_settled", refund.processor_refund_id)

    assert post(client, fields, django_capture_on_commit_callbacks).status_code == 200

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 3000


def test_a_refund_before_settlement_is_refused_and_leaves_nothing_behind(
    bt_account: ProcessorAccount,
) -> None:
    from payments.exceptions import ChargeNotSettledError

    payment = pay(bt_account)
    with pytest.raises(ChargeNotSettledError):
        services.refund_create(payment=payment, actor=ACTOR, amount=100)
    assert not Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).exists()
    payment.refresh_from_db()
    assert payment.amount_refunded == 0


def test_a_dispute_notification_parsed_by_the_sdk_opens_then_closes_a_dispute(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, amount=6000)
    settle(bt_control, payment.processor_payment_id)
    txn = bt_control.braintree("POST", f"transactions/{payment.processor_payment_id}/dispute")
    dispute_id = txn["dispute_ids"][0]
    opened = notification(bt_control, "dispute_opened", dispute_id)
    bt_control.braintree("POST", f"disputes/{dispute_id}/resolve", {"outcome": "won"})
    won = notification(bt_control, "dispute_won", dispute_id)

    assert post(client, opened, django_capture_on_commit_callbacks).status_code == 200
    dispute = Dispute.objects.get(processor_dispute_id=dispute_id)
    assert (dispute.status, dispute.amount, dispute.currency) == ("needs_response", 6000, "usd")
    assert dispute.payment == payment

    assert post(client, won, django_capture_on_commit_callbacks).status_code == 200
    # The opening notification again (a redelivery): the dispute never moves back.
    assert post(client, opened, django_capture_on_commit_callbacks).json()["duplicate"] is True
    dispute.refresh_from_db()
    assert dispute.status == "won"


def test_reconciliation_finds_status_changes_it_was_never_told_about(
    bt_account: ProcessorAccount,
    bt_control: SandboxControl,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payment = pay(bt_account, capture=False)
    capture_at_processor(payment)  # no notification reaches us
    with django_capture_on_commit_callbacks(execute=True):
        first = braintree_transactions_reconcile()
    assert first >= 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    with django_capture_on_commit_callbacks(execute=True):
        assert braintree_transactions_reconcile() == 0  # nothing changed since the last run
