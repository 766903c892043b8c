"""A platform fee on a merchant whose payments go to its own Braintree account: Braintree
takes no fee for a third party out of such an account's sales (Marketplace's service fee was
for sub-merchants only and is gone from the SDK), so the charge asks for none, succeeds, and
reports no platform fee; the gateway refuses a fee rather than drop it silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from compliance.actors import Actor
from payments import services
from payments.exceptions import ProcessorRequestError
from payments.gateways.base import PaymentGateway
from payments.models import CaptureMethod, ProcessorAccount
from payments.state import PaymentStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID, sale, sandbox_transaction

ACTOR = Actor.system("tests")


def test_a_braintree_charge_of_a_merchant_with_a_platform_fee_asks_for_none(
    bt_account: ProcessorAccount, bt_control: SandboxControl
) -> None:
    merchant = bt_account.merchant
    services.platform_fee_set(
        merchant=merchant, actor=ACTOR, rate_bps=250, fixed_amount=30, fixed_currency="usd"
    )
    payment = services.payment_create(
        merchant=merchant,
        actor=ACTOR,
        amount=10_000,
        currency="usd",
        payment_method="fake-valid-nonce",
        capture_method=CaptureMethod.MANUAL,
    )
    assert (payment.processor, payment.status) == ("braintree", PaymentStatus.REQUIRES_CAPTURE)
    assert payment.platform_fee_requested == 0
    txn = sandbox_transaction(bt_control, payment.processor_payment_id)
    assert not txn.get("service_fee_amount")
    captured = services.payment_capture(payment=payment, actor=ACTOR, amount=5_000)
    assert (captured.status, captured.amount_captured) == (PaymentStatus.SUCCEEDED, 5_000)


def test_the_braintree_gateway_refuses_a_platform_fee_before_calling_braintree(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    assert bt_gateway.takes_platform_fee is False
    with pytest.raises(ProcessorRequestError) as refused:
        bt_gateway.charge_create(
            account=MERCHANT_ID,
            key="pay_fee_create",
            reference="pay_fee",
            amount=1_000,
            currency="usd",
            method_type="card",
            payment_method="fake-valid-nonce",
            capture_manually=False,
            platform_fee=30,
        )
    assert "platform fee" in refused.value.message
    since = datetime.now(tz=UTC) - timedelta(hours=1)
    assert (
        bt_gateway.charge_find(account=MERCHANT_ID, reference="pay_fee", created_since=since)
        is None
    )
    charge = sale(bt_gateway, reference="pay_after")
    with pytest.raises(ProcessorRequestError):
        bt_gateway.charge_capture(
            account=MERCHANT_ID, charge=charge.id, amount=None, key="k", platform_fee=10
        )
