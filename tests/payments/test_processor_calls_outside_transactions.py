"""No database transaction is open while a money path talks to the processor.

A transaction held across a processor call keeps its row locks (and on SQLite the whole
database's write lock) for as long as the network takes; if the process dies or the write
after the call fails, the processor has acted while our row rolls back. Every money path
commits its own row first, calls the processor with no transaction open, then applies the
answer in a new short transaction. These tests record the transaction depth at each Stripe
and Plaid call of each path, against the depth the test itself runs at.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from payments.models import PaymentLink
from payments.services import merchant_connect_account_ensure
from tests.factories import member, verified_client
from tests.form_support import form_fields
from tests.payments.conftest import api_client_for
from tests.payments.factories import PaymentLinkFactory, card_payment
from tests.processor_calls import calls_in_transaction

__all__ = ["calls_in_transaction"]  # the shared fixture
pytestmark = pytest.mark.django_db


def test_dashboard_money_forms_call_the_processor_outside_transactions(
    merchant,
    sandbox_control,
    calls_in_transaction,
):
    owner = verified_client(member(Role.OWNER, merchant).user, merchant=merchant)
    for name, typed, capture in (
        ("payment-refund", {"amount": "5.00"}, "automatic"),
        ("payment-capture", {}, "manual"),
        ("payment-cancel", {}, "manual"),
    ):
        payment = card_payment(merchant, capture_method=capture)
        action = reverse(name, args=[payment.public_id])
        detail = reverse("payment-detail", args=[payment.public_id])
        assert owner.post(action, form_fields(owner, detail, action, **typed)).status_code == 302
    assert calls_in_transaction == []


def test_api_and_pay_page_call_the_processor_outside_transactions(
    merchant,
    sandbox_control,
    calls_in_transaction,
):
    merchant_connect_account_ensure(merchant=merchant)
    api = api_client_for(merchant)
    body = {"amount": 2000, "currency": "gbp", "payment_method": "pm_card_visa"}
    created = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert created.status_code == 201
    refunded = api.post(
        f"/api/v1/payments/{created.json()['id']}/refunds",
        {"amount": 100},
        format="json",
        HTTP_IDEMPOTENCY_KEY="t-2",
    )
    assert refunded.status_code == 201
    link: PaymentLink = PaymentLinkFactory(merchant=merchant, amount=900, currency="gbp")
    customer = Client()
    url = reverse("pay", kwargs={"token": link.token})
    attempt = re.search(r'name="attempt" value="([^"]+)"', customer.get(url).content.decode())
    assert attempt is not None
    paid = customer.post(url, {"attempt": attempt.group(1), "payment_method": "pm_card_visa"})
    assert paid.status_code == 303
    assert calls_in_transaction == []
