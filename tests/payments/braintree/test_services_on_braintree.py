"""The payments services on a merchant whose account is at Braintree: nothing outside the
gateway knows the processor, yet customers, captures, cancels and refunds all reach Braintree."""

from __future__ import annotations

import pytest

from compliance.actors import Actor
from payments import services
from payments.exceptions import CardDeclinedError
from payments.models import CaptureMethod, Payment, ProcessorAccount
from payments.state import PaymentStatus, RefundStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import sandbox_transaction, settle

ACTOR = Actor.system("tests")


def test_a_customers_payment_creates_its_twin_at_braintree_under_our_id(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    customer = services.customer_create(
        merchant=bt_account.merchant, actor=ACTOR, email="ada@example.com", name="Ada Lovelace"
    )
    payment = services.payment_create(
        merchant=bt_account.merchant,
        actor=ACTOR,
        amount=1500,
        currency="usd",
        payment_method="fake-valid-nonce",
        customer=customer,
    )
    customer.refresh_from_db()
    assert (customer.processor, customer.processor_customer_id) == ("braintree", customer.public_id)
    txn = sandbox_transaction(bt_control, payment.processor_payment_id)
    assert txn["customer_id"] == customer.public_id
    assert txn["order_id"] == payment.public_id


def test_capture_and_cancel_through_the_services(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    kept = services.payment_create(
        merchant=bt_account.merchant,
        actor=ACTOR,
        amount=3000,
        currency="usd",
        payment_method="fake-valid-nonce",
        capture_method=CaptureMethod.MANUAL,
    )
    assert kept.status == PaymentStatus.REQUIRES_CAPTURE
    captured = services.payment_capture(payment=kept, actor=ACTOR, amount=2000)
    assert (captured.status, captured.amount_captured) == (PaymentStatus.SUCCEEDED, 2000)
    dropped = services.payment_create(
        merchant=bt_account.merchant,
        actor=ACTOR,
        amount=3000,
        currency="usd",
        payment_method="fake-valid-nonce",
        capture_method=CaptureMethod.MANUAL,
    )
    canceled = services.payment_cancel(payment=dropped, actor=ACTOR)
    assert canceled.status == PaymentStatus.CANCELED
    assert sandbox_transaction(bt_control, dropped.processor_payment_id)["status"] == "voided"


def test_a_decline_is_recorded_on_the_payment(bt_account: ProcessorAccount) -> None:
    with pytest.raises(CardDeclinedError):
        services.payment_create(
            merchant=bt_account.merchant,
            actor=ACTOR,
            amount=200_100,
            currency="usd",
            payment_method="fake-valid-nonce",
        )
    payment = Payment.objects.get(merchant=bt_account.merchant)
    assert payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert (payment.failure_code, payment.decline_code) == ("card_declined", "insufficient_funds")
    assert payment.processor_payment_id  # the declined transaction is mirrored


def test_a_refund_of_a_settled_payment_through_the_services(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    payment = services.payment_create(
        merchant=bt_account.merchant,
        actor=ACTOR,
        amount=9000,
        currency="usd",
        payment_method="fake-valid-nonce",
    )
    settle(bt_control, payment.processor_payment_id)
    refund = services.refund_create(payment=payment, actor=ACTOR, amount=4000)
    assert refund.status == RefundStatus.PENDING
    assert sandbox_transaction(bt_control, refund.processor_refund_id)["type"] == "credit"
