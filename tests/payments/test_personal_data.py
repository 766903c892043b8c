"""Payments' personal-data handlers against the Stripe sandbox: the customer deleted at the
processor (once, even when told twice), an outage deferred for retry."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compliance import personal_data
from compliance.personal_data import ProcessorPendingError, SubjectKind
from payments.models import BalanceTransaction, ProcessorAccount
from tests.payments.factories import CustomerFactory, PaymentFactory, card_payment

pytestmark = pytest.mark.django_db


def _customer_at_stripe(merchant):
    customer = CustomerFactory(merchant=merchant, email="ana@example.test", name="Ana Lima")
    card_payment(merchant, customer=customer)  # paying creates the Stripe customer
    customer.refresh_from_db()
    assert customer.processor_customer_id.startswith("cus_")
    return customer


def test_stripe_is_told_to_delete_the_customer(merchant, sandbox_control):
    customer = _customer_at_stripe(merchant)
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id
    subject = personal_data.subject_resolve(
        SubjectKind.CUSTOMER, merchant_id=merchant.public_id, reference=customer.public_id
    )
    stripe = personal_data.processor("stripe")
    assert stripe.notify(subject) == [customer.processor_customer_id]
    at_stripe = sandbox_control.api_get(
        f"/v1/customers/{customer.processor_customer_id}", account=account
    )
    assert at_stripe["deleted"] is True
    # Told again (a resumed execution): already gone counts as done, nothing fails.
    assert stripe.notify(subject) == [f"{customer.processor_customer_id}:already_deleted"]


def test_a_stripe_outage_is_deferred_not_failed(merchant, sandbox_control):
    customer = _customer_at_stripe(merchant)
    subject = personal_data.subject_resolve(
        SubjectKind.CUSTOMER, merchant_id=merchant.public_id, reference=customer.public_id
    )
    sandbox_control.fault(kind="error_500", method="DELETE", path="/v1/customers", count=10)
    with pytest.raises(ProcessorPendingError):
        personal_data.processor("stripe").notify(subject)


def _ledger_line(payment, description: str) -> BalanceTransaction:
    now = timezone.now()
    return BalanceTransaction.objects.create(
        merchant=payment.merchant,
        processor_transaction_id=f"txn_{payment.public_id}",
        type="charge",
        amount=payment.amount,
        fee=59,
        net=payment.amount - 59,
        currency=payment.currency,
        description=description,
        payment=payment,
        available_on=now,
        processor_created_at=now,
    )


def test_the_processors_copy_of_a_payment_description_is_erased_with_its_customer():
    """On any database (the PostgreSQL drill found the name here): the subject's ledger lines
    lose their description and keep their amounts; another customer's line is untouched."""
    customer = CustomerFactory(name="Ana Lima")
    theirs = _ledger_line(
        PaymentFactory(merchant=customer.merchant, customer=customer), "Order for Ana Lima"
    )
    other = _ledger_line(
        PaymentFactory(
            merchant=customer.merchant, customer=CustomerFactory(merchant=customer.merchant)
        ),
        "Order for someone else",
    )
    subject = personal_data.subject_resolve(
        SubjectKind.CUSTOMER, merchant_id=customer.merchant.public_id, reference=customer.public_id
    )
    handler = personal_data.handler("payments.BalanceTransaction")
    assert [row["description"] for row in map(handler.export, handler.find(subject))] == [
        "Order for Ana Lima"
    ]
    assert handler.erase(subject).anonymised == 1
    theirs.refresh_from_db()
    other.refresh_from_db()
    assert (theirs.description, theirs.net) == ("", theirs.amount - 59)
    assert other.description == "Order for someone else"
