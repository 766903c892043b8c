"""The payment status machine and the money invariants under random processor histories."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.gateways.base import CardFacts, Charge
from payments.models import Payment
from payments.services import payment_apply_processor_state, refund_apply_processor_state
from payments.state import TERMINAL, PaymentStatus, transition_allowed
from tests.payments.factories import PaymentFactory

STATUSES = list(PaymentStatus.values)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("other", STATUSES)
def test_terminal_states_are_never_left(terminal, other):
    assert transition_allowed(terminal, other) is (terminal == other)


def test_failed_attempts_return_to_requires_payment_method_but_capture_does_not():
    assert transition_allowed("requires_action", "requires_payment_method")
    assert transition_allowed("processing", "requires_payment_method")
    assert not transition_allowed("requires_capture", "requires_payment_method")
    assert not transition_allowed("requires_capture", "requires_action")


def _intent(intent_id: str, amount: int, draw) -> Charge:
    status = draw(st.sampled_from(list(PaymentStatus)))
    received = draw(st.integers(min_value=0, max_value=amount * 2))
    return Charge(
        id=intent_id,
        status=status,
        amount=amount,
        amount_capturable=draw(st.integers(min_value=0, max_value=amount * 2)),
        amount_received=received,
        currency="gbp",
        amount_refunded=draw(st.integers(min_value=0, max_value=amount * 2)),
        card=CardFacts(brand="visa", last4="4242", exp_month=12, exp_year=2030),
    )


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_processor_histories_keep_invariants(data):
    """Whatever the processor reports, in any order: no backwards move, refunded <= captured
    <= amount, captured and refunded never shrink, and terminal states stay terminal."""
    amount = data.draw(st.integers(min_value=50, max_value=10_000))
    payment = PaymentFactory(
        amount=amount, status=PaymentStatus.REQUIRES_CONFIRMATION, amount_captured=0
    )
    intent_id = f"pi_{uuid.uuid4().hex}"
    history = [payment.status]
    captured = refunded = 0
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        if data.draw(st.booleans()) or payment.status != PaymentStatus.SUCCEEDED:
            intent = _intent(intent_id, amount, data.draw)
            before = payment.status
            payment = payment_apply_processor_state(payment=payment, charge=intent)
            if payment.status != before:
                assert transition_allowed(before, payment.status)
        else:
            # A refund settled by the processor: at most what is left, by construction of the
            # service; the constraint must also hold if the processor says more.
            refund_amount = data.draw(st.integers(min_value=1, max_value=amount))
            from payments.models import Refund

            try:
                with transaction.atomic():
                    refund = Refund.objects.create(
                        merchant=payment.merchant,
                        payment=payment,
                        amount=refund_amount,
                        currency="gbp",
                    )
                    refund_apply_processor_state(
                        refund=refund, status="succeeded", processor_refund_id=""
                    )
            except IntegrityError:
                pytest.fail("refund application broke a database constraint")
        payment = Payment.objects.get(pk=payment.pk)
        assert 0 <= payment.amount_refunded <= payment.amount_captured <= payment.amount
        assert payment.amount_captured >= captured
        assert payment.amount_refunded >= refunded
        captured, refunded = payment.amount_captured, payment.amount_refunded
        if history[-1] in TERMINAL:
            assert payment.status == history[-1]
        history.append(payment.status)


@pytest.mark.django_db
def test_database_refuses_refunded_above_captured():
    payment = PaymentFactory(amount=1000, amount_captured=500)
    payment.amount_refunded = 600
    with pytest.raises(IntegrityError), transaction.atomic():
        payment.save()


@pytest.mark.django_db
def test_database_refuses_a_second_payment_for_one_intent():
    PaymentFactory(processor_payment_id="pi_same")
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFactory(processor_payment_id="pi_same")


@pytest.mark.django_db
def test_database_refuses_upper_case_currency_and_non_positive_amount():
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFactory(currency="GBP")
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFactory(amount=0, amount_captured=0)
