"""End-to-end card payments through the API against the sandbox."""

from __future__ import annotations

import pytest

from payments.models import Payment, ProcessorAccount

pytestmark = pytest.mark.django_db


def test_payment_with_visa_succeeds_and_records_only_card_facts(api, merchant, sandbox_control):
    """Given a merchant, when it charges pm_card_visa, then the payment succeeds once."""
    response = api.post(
        "/api/v1/payments",
        {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["amount_captured"] == 2000
    assert body["card"]["last4"] == "4242"
    payment = Payment.objects.get(public_id=body["id"])
    account = ProcessorAccount.objects.get(merchant=merchant).processor_account_id
    assert len(sandbox_control.charges(account=account)) == 1
    assert payment.processor_payment_id
