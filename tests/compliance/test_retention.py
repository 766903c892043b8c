"""Retention policies: counts per policy, dry run changes nothing, legal holds stop it."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from compliance.models import AuditEntry, LegalHold
from payments.models import Payment
from tests.factories import MerchantFactory
from tests.payments.factories import CustomerFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def refunded(merchant, *, days_old: int, customer=None) -> Payment:
    return PaymentFactory(
        merchant=merchant,
        customer=customer,
        amount=1000,
        amount_captured=1000,
        amount_refunded=1000,
        description="Order for Ana Lima",
        card_fingerprint="fp",
        created_at=timezone.now() - timedelta(days=days_old),
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command("apply_retention", *args, stdout=out)
    return out.getvalue()


def test_refunded_payments_older_than_the_policy_are_stripped_with_counts():
    merchant = MerchantFactory()
    old = refunded(merchant, days_old=200)
    recent = refunded(merchant, days_old=10)
    partly = PaymentFactory(
        merchant=merchant,
        amount=1000,
        amount_captured=1000,
        amount_refunded=500,
        description="kept",
        created_at=timezone.now() - timedelta(days=400),
    )
    dry = run("--dry-run")
    assert "payments.refunded_payments (older than 180 days): would change 1" in dry
    old.refresh_from_db()
    assert old.description  # a dry run changes nothing
    assert not AuditEntry.objects.filter(action="retention.applied").exists()

    output = run()
    assert "payments.refunded_payments (older than 180 days): changed 1" in output
    old.refresh_from_db()
    recent.refresh_from_db()
    partly.refresh_from_db()
    assert (old.description, old.card_fingerprint, old.amount_refunded) == ("", "", 1000)
    assert recent.description
    assert partly.description == "kept"
    entry = AuditEntry.objects.get(action="retention.applied")
    assert entry.payload["policies"]["payments:refunded_payments"] == 1
    assert "changed 0" in run()  # nothing left to do: idempotent


def test_a_legal_hold_on_a_merchant_or_a_customer_stops_retention():
    held_merchant, other = MerchantFactory(), MerchantFactory()
    held_customer = CustomerFactory(merchant=other)
    on_held_merchant = refunded(held_merchant, days_old=300)
    on_held_customer = refunded(other, days_old=300, customer=held_customer)
    free = refunded(other, days_old=300)
    LegalHold.objects.create(
        merchant_public_id=held_merchant.public_id, reason="litigation", placed_by="user:usr_x"
    )
    LegalHold.objects.create(
        merchant_public_id=other.public_id,
        customer_public_id=held_customer.public_id,
        reason="chargeback investigation",
        placed_by="user:usr_x",
    )
    run()
    for payment in (on_held_merchant, on_held_customer, free):
        payment.refresh_from_db()
    assert on_held_merchant.description
    assert on_held_customer.description
    assert free.description == ""


@pytest.mark.parametrize(
    "policies",
    [
        {"nope.category": {"days": 5}},
        {"payments.refunded_payments": {"days": 0}},
        {"payments.refunded_payments": "x"},
    ],
)
def test_a_bad_policy_is_a_one_line_failure(settings, policies):
    settings.RETENTION_POLICIES = policies
    with pytest.raises(CommandError, match="retention not applied"):
        run()
