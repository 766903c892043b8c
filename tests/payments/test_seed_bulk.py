"""`seed_bulk`: valid, varied, card-number-free payments added on every run (COPY on PostgreSQL,
bulk_create elsewhere: this file runs on whichever database the suite uses)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Merchant
from payments.management.commands import seed_bulk
from payments.models import Customer, Payment
from payments.state import PaymentStatus
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db
# pan_scan's rule: 13-19 digits, optionally separated by spaces or dashes, passing Luhn.
_CARD_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_numbers_in(text: str) -> list[str]:
    runs = (re.sub(r"\D", "", match.group(0)) for match in _CARD_LIKE.finditer(text))
    return [run for run in runs if 13 <= len(run) <= 19 and _luhn_valid(run)]


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_bulk", *args, stdout=out)
    return out.getvalue()


def test_luhn_check_used_here_recognises_a_test_card():
    assert _card_numbers_in("pm 4242 4242 4242 4242 x") == ["4242424242424242"]
    assert _card_numbers_in("order 4242424242424241") == []


def test_seeded_payments_satisfy_every_constraint_and_look_real():
    _seed("--payments", "600", "--seed", "7", "--batch-size", "250")

    merchant = Merchant.objects.get(slug=seed_bulk.DEFAULT_MERCHANT)
    payments = list(Payment.objects.filter(merchant=merchant))
    assert len(payments) == 600
    # The database enforced its CHECKs on insert; Django's own check of the model's constraints
    # on a sample proves the model and the tables agree (a query per constraint: kept small).
    for payment in payments[::20]:
        payment.validate_constraints()
    for payment in payments:
        assert payment.amount_refunded <= payment.amount_captured <= payment.amount
        assert payment.amount_capturable <= payment.amount
        assert len(payment.card_last4) == 4
        assert payment.card_last4.isdigit()
    statuses = Counter(p.status for p in payments)
    assert statuses[PaymentStatus.SUCCEEDED] > 300
    assert len(statuses) >= 5
    assert len({p.currency for p in payments}) >= 4
    assert len({p.card_brand for p in payments}) >= 3
    assert any(p.amount_refunded for p in payments)
    assert any(p.customer_id is None for p in payments)
    assert any(p.customer_id is not None for p in payments)
    now = timezone.now()
    assert all(now - timedelta(days=90) <= p.created_at <= now for p in payments)
    assert max(p.created_at for p in payments) - min(p.created_at for p in payments) > timedelta(
        days=60
    )
    assert len({p.public_id for p in payments}) == 600
    assert all(re.fullmatch(r"pay_[A-Za-z0-9]{24}", p.public_id) for p in payments)
    assert len({p.processor_payment_id for p in payments}) == 600
    declined = [p for p in payments if p.status == PaymentStatus.REQUIRES_PAYMENT_METHOD]
    assert all(p.failure_code == "card_declined" and p.decline_code for p in declined)
    customers = Customer.objects.filter(merchant=merchant)
    assert customers.count() == 60
    assert set(
        Payment.objects.exclude(customer=None).values_list("customer__merchant", flat=True)
    ) == {merchant.pk}


def test_no_stored_value_looks_like_a_card_number():
    _seed("--payments", "400")

    dump = json.dumps(
        [list(Payment.objects.values()), list(Customer.objects.values())], default=str
    )
    assert _card_numbers_in(dump) == []


def test_random_ids_are_drawn_again_rather_than_hold_a_long_digit_run(monkeypatch):
    digits_only = bytes([52 + i % 10 for i in range(4096)])  # table positions of "0".."9"
    draws = iter([digits_only])
    real_urandom = seed_bulk.os.urandom
    monkeypatch.setattr(seed_bulk.os, "urandom", lambda n: next(draws, None) or real_urandom(n))

    ids = seed_bulk.random_base62(10, 24)

    assert len(ids) == 10
    assert all(len(value) == 24 for value in ids)
    assert not any(re.search(r"\d{13}", value) for value in ids)


def test_each_run_adds_more_and_says_how_many_exist():
    merchant = MerchantFactory(slug="shop")
    first = _seed("--payments", "50", "--merchant", "shop")
    second = _seed("--payments", "30", "--merchant", "shop")

    assert "0 payments exist" in first
    assert "50 payments exist" in second
    assert "now has 80 payments" in second
    assert Payment.objects.filter(merchant=merchant).count() == 80
    assert not Merchant.objects.filter(slug=seed_bulk.DEFAULT_MERCHANT).exists()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--payments", "0"], "--payments must be between"),
        (["--payments", "-5"], "--payments must be between"),
        (["--payments", "10", "--merchant", "nope"], "unknown merchant 'nope'"),
        (["--payments", "10", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_arguments_fail_with_one_line_and_write_nothing(args, reason):
    with pytest.raises(CommandError) as error:
        _seed(*args)
    assert reason in str(error.value)
    assert "\n" not in str(error.value)
    assert not Payment.objects.exists()
