"""Platform staff in the admin: support reads merchants' customers, payments, refunds, payment
links and disputes, searchable by public id and email, and can change nothing or see secrets."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.management.commands.seed_demo import COMPLIANCE_GROUP, SUPPORT_GROUP, staff_groups
from accounts.models import User
from payments.models import Customer, Dispute, Payment, PaymentLink, Refund
from tests.factories import MerchantFactory, UserFactory, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def support() -> Client:
    user: User = UserFactory(is_staff=True)
    user.groups.set([staff_groups()[SUPPORT_GROUP]])
    return verified_client(user)


@pytest.fixture
def paid() -> Payment:
    merchant = MerchantFactory()
    customer = Customer.objects.create(merchant=merchant, email="jo@customer.test", name="Jo")
    link = PaymentLink.objects.create(
        merchant=merchant, amount=500, currency="gbp", description="Coffee"
    )
    payment = Payment.objects.create(
        merchant=merchant,
        customer=customer,
        payment_link=link,
        status="succeeded",
        amount=500,
        amount_captured=500,
        currency="gbp",
        card_brand="visa",
        card_last4="4242",
        card_exp_month=12,
        card_exp_year=2031,
        card_fingerprint="fp_secretish_fingerprint",
        metadata={"note": "private merchant note"},
        processor_payment_method_id="pm_123",
        processor_payment_id="pi_123",
    )
    Refund.objects.create(
        merchant=merchant, payment=payment, amount=100, currency="gbp", status="succeeded"
    )
    Dispute.objects.create(
        merchant=merchant,
        payment=payment,
        amount=500,
        currency="gbp",
        status="needs_response",
        processor_dispute_id="dp_123",
    )
    return payment


MODELS = ("customer", "payment", "refund", "paymentlink", "dispute")


@pytest.mark.parametrize("model", MODELS)
def test_support_reads_each_list_and_record_but_cannot_add_change_or_delete(support, paid, model):
    rows = {
        "customer": paid.customer,
        "payment": paid,
        "refund": paid.refunds.get(),
        "paymentlink": paid.payment_link,
        "dispute": paid.disputes.get(),
    }
    row = rows[model]
    assert support.get(reverse(f"admin:payments_{model}_changelist")).status_code == 200
    change_url = reverse(f"admin:payments_{model}_change", args=[row.pk])
    page = support.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert support.post(change_url, {}).status_code == 403
    assert support.get(reverse(f"admin:payments_{model}_add")).status_code == 403
    assert support.get(reverse(f"admin:payments_{model}_delete", args=[row.pk])).status_code == 403


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("payment", "public_id"),
        ("payment", "email"),
        ("refund", "payment"),
        ("refund", "email"),
        ("customer", "email"),
        ("customer", "public_id"),
        ("dispute", "email"),
        ("paymentlink", "public_id"),
    ],
)
def test_support_finds_records_by_public_id_and_email(support, paid, model, query):
    row = {
        "payment": paid,
        "refund": paid.refunds.get(),
        "customer": paid.customer,
        "dispute": paid.disputes.get(),
        "paymentlink": paid.payment_link,
    }[model]
    term = {
        "public_id": row.public_id,
        "email": "jo@customer.test",
        "payment": paid.public_id,
    }[query]
    body = support.get(reverse(f"admin:payments_{model}_changelist"), {"q": term}).content
    assert row.public_id in body.decode()
    other = support.get(reverse(f"admin:payments_{model}_changelist"), {"q": "pay_nothing"})
    assert row.public_id not in other.content.decode()


def test_no_card_data_link_token_or_free_text_metadata_is_shown(support, paid):
    page = support.get(reverse("admin:payments_payment_change", args=[paid.pk])).content.decode()
    assert "4242" in page
    assert "fp_secretish_fingerprint" not in page
    assert "private merchant note" not in page
    assert "2031" not in page
    link = paid.payment_link
    link_page = support.get(reverse("admin:payments_paymentlink_change", args=[link.pk]))
    assert link.token not in link_page.content.decode()


def test_the_compliance_officer_reads_the_audit_log_but_not_payments(paid):
    user: User = UserFactory(is_staff=True)
    user.groups.set([staff_groups()[COMPLIANCE_GROUP]])
    client = verified_client(user)
    assert client.get(reverse("admin:compliance_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:payments_payment_changelist")).status_code == 403
