"""Money paths through Braintree when the network fails: a lost answer after Braintree acted is
found by our order id before any retry (exactly one transaction), retries are bounded, and the
breaker opens on repeated outages only."""

from __future__ import annotations

import uuid

import pytest

from payments.exceptions import (
    CardDeclinedError,
    ProcessorOutcomeUnknownError,
    ProcessorUnavailableError,
)
from payments.gateways.base import PaymentGateway
from payments.gateways.braintree import resilience as bt_resilience
from payments.state import PaymentStatus, RefundStatus
from sandbox.client import SandboxControl
from tests.payments.braintree.conftest import MERCHANT_ID, sale, settle

TRANSACTIONS = f"/merchants/{MERCHANT_ID}/transactions"


def _ref(prefix: str = "pay") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@pytest.mark.parametrize("fault", ["lose_response", "timeout_after", "error_500_after"])
def test_an_answer_lost_after_braintree_charged_is_found_not_charged_again(
    bt_gateway: PaymentGateway, bt_control: SandboxControl, fault: str
) -> None:
    """Braintree charges, the answer never arrives; the retry searches our order id first and
    returns that charge: exactly one sale at the processor."""
    before = bt_control.braintree("GET", "state")["objects"].get("transactions", 0)
    bt_control.add_fault(fault, method="POST", path=TRANSACTIONS, seconds=2.0)
    charge = sale(bt_gateway, amount=4200, reference=(ref := _ref()))
    assert charge.status == PaymentStatus.SUCCEEDED
    assert charge.reference == ref
    after = bt_control.braintree("GET", "state")["objects"].get("transactions", 0)
    assert after - before == 1


def test_a_request_that_never_arrived_is_sent_again_once(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    before = bt_control.braintree("GET", "state")["objects"].get("transactions", 0)
    bt_control.add_fault("error_500", method="POST", path=TRANSACTIONS)
    charge = sale(bt_gateway, reference=_ref())
    assert charge.status == PaymentStatus.SUCCEEDED
    after = bt_control.braintree("GET", "state")["objects"].get("transactions", 0)
    assert after - before == 1


def test_when_every_attempt_is_lost_the_outcome_is_unknown_and_nothing_doubles(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    """Three attempts time out before Braintree sees them: the caller is told the outcome is
    unknown (reconcile, never resend under another id) and Braintree holds no sale."""
    from django.utils import timezone

    bt_control.add_fault("timeout", count=10, method="POST", path=TRANSACTIONS, seconds=2.0)
    with pytest.raises(ProcessorOutcomeUnknownError):
        sale(bt_gateway, reference=(ref := _ref()))
    bt_control.clear_faults()
    assert (
        bt_gateway.charge_find(account=MERCHANT_ID, reference=ref, created_since=timezone.now())
        is None
    )


def test_a_lost_refund_answer_is_found_not_refunded_twice(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    charge = sale(bt_gateway, amount=5000, reference=_ref())
    settle(bt_control, charge.id)
    bt_control.add_fault("lose_response", method="POST", path=f"{TRANSACTIONS}/{charge.id}/refund")
    refund = bt_gateway.refund_create(
        account=MERCHANT_ID, charge=charge.id, amount=2000, key="k", reference=(ref := _ref("re"))
    )
    assert refund.reference == ref
    assert refund.status == RefundStatus.PENDING
    stored = bt_control.braintree("GET", f"objects/transactions/{charge.id}")
    assert len(stored["refund_ids"]) == 1


def test_a_lost_capture_answer_is_read_back_not_refused(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    charge = sale(bt_gateway, capture=False, reference=_ref())
    bt_control.add_fault(
        "lose_response", method="PUT", path=f"{TRANSACTIONS}/{charge.id}/submit_for_settlement"
    )
    captured = bt_gateway.charge_capture(
        account=MERCHANT_ID, charge=charge.id, amount=None, key="k"
    )
    assert captured.status == PaymentStatus.SUCCEEDED


def test_a_lost_void_answer_is_read_back(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    charge = sale(bt_gateway, capture=False, reference=_ref())
    bt_control.add_fault("lose_response", method="PUT", path=f"{TRANSACTIONS}/{charge.id}/void")
    canceled = bt_gateway.charge_cancel(account=MERCHANT_ID, charge=charge.id, key="k")
    assert canceled.status == PaymentStatus.CANCELED


def test_the_breaker_opens_after_repeated_outages_and_refuses_at_once(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    bt_resilience.breaker_reset(fail_max=3, reset_timeout=60.0)
    bt_control.add_fault("error_500", count=50, path=f"/merchants/{MERCHANT_ID}/")
    with pytest.raises(ProcessorUnavailableError):
        bt_gateway.charge_retrieve(account=MERCHANT_ID, charge="anything")
    with pytest.raises(ProcessorUnavailableError) as refused:
        bt_gateway.charge_retrieve(account=MERCHANT_ID, charge="anything")
    assert refused.value.retry_after >= 1
    with pytest.raises(ProcessorUnavailableError):
        bt_gateway.ensure_available()
    left = list(bt_control.request("GET", "faults")["faults"])
    # Three attempts reached the sandbox, then the open breaker refused without a request.
    assert left[0]["remaining"] == 47


def test_declines_never_open_the_breaker(
    bt_gateway: PaymentGateway, bt_control: SandboxControl
) -> None:
    bt_resilience.breaker_reset(fail_max=2, reset_timeout=60.0)
    for _ in range(4):
        with pytest.raises(CardDeclinedError):
            sale(bt_gateway, amount=200_100, reference=_ref())
    bt_gateway.ensure_available()  # still closed


def test_a_rate_limit_is_retried(bt_gateway: PaymentGateway, bt_control: SandboxControl) -> None:
    bt_control.add_fault("rate_limit_429", method="GET", path=TRANSACTIONS)
    charge = sale(bt_gateway, reference=_ref())
    assert bt_gateway.charge_retrieve(account=MERCHANT_ID, charge=charge.id).id == charge.id


def test_an_account_without_stored_keys_is_a_typed_error_not_a_crash(
    bt_gateway: PaymentGateway,
) -> None:
    from payments import processor_credentials
    from payments.exceptions import ProcessorAuthenticationError
    from payments.models import ProcessorCredential

    ProcessorCredential.objects.all().delete()
    processor_credentials.keys_forget()
    with pytest.raises(ProcessorAuthenticationError):
        bt_gateway.charge_retrieve(account=MERCHANT_ID, charge="anything")


def test_keys_braintree_refuses_are_an_authentication_error(bt_gateway: PaymentGateway) -> None:
    from payments.exceptions import ProcessorAuthenticationError
    from payments.gateways.braintree import Keys, credentials_check

    with pytest.raises(ProcessorAuthenticationError):
        credentials_check(Keys(merchant_id=MERCHANT_ID, public_key="revoked", private_key="x"))
