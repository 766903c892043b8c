"""A payment through the payments services on Braintree whose answer is lost after Braintree
charged, and whose retries cannot even search: the payment waits (processing) and the resumed
request (a client retry, or reconciliation) finds the charge by our order id: exactly one
transaction at the processor, never a second charge."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.actors import Actor
from payments import services
from payments.exceptions import ProcessorOutcomeUnknownError
from payments.models import CaptureMethod, Payment, ProcessorAccount
from payments.state import PaymentStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID

TRANSACTIONS = f"/merchants/{MERCHANT_ID}/transactions"


def _count(control: SandboxControl) -> int:
    return int(control.braintree("GET", "state")["objects"].get("transactions", 0))


@pytest.mark.parametrize("resume", ["payment_resume", "payment_reconcile"])
def test_a_lost_answer_then_a_retry_makes_exactly_one_transaction(
    bt_account: ProcessorAccount, bt_control: SandboxControl, resume: str
) -> None:
    before = _count(bt_control)
    bt_control.add_fault("lose_response", method="POST", path=TRANSACTIONS)
    bt_control.add_fault("error_500", count=10, method="POST", path=f"{TRANSACTIONS}/advanced")
    with pytest.raises(ProcessorOutcomeUnknownError):
        services.payment_create(
            merchant=bt_account.merchant,
            actor=Actor.system("tests"),
            amount=7300,
            currency="usd",
            payment_method="fake-valid-nonce",
            capture_method=CaptureMethod.AUTOMATIC,
        )
    payment = Payment.objects.get(merchant=bt_account.merchant)
    assert payment.status == PaymentStatus.PROCESSING
    assert _count(bt_control) - before == 1  # Braintree charged once

    bt_control.clear_faults()
    resumed: Any = getattr(services, resume)(payment=payment)

    assert resumed.status == PaymentStatus.SUCCEEDED
    assert resumed.processor_payment_id
    assert _count(bt_control) - before == 1  # and never again
