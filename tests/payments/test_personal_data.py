"""Payments' personal-data handlers against the Stripe sandbox: the customer deleted at the
processor (once, even when told twice), an outage deferred for retry."""

from __future__ import annotations

import pytest

from compliance import personal_data
from compliance.personal_data import ProcessorPendingError, SubjectKind
from payments.models import ProcessorAccount
from tests.payments.factories import CustomerFactory, card_payment

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
