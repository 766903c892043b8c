"""`seed_demo`: idempotent demo merchants and logins, refused under production settings."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from payments.models import Customer, Payment, PaymentLink

pytestmark = pytest.mark.django_db
OWNER = "owner@demo.ledgerline.test"


@pytest.fixture(autouse=True)
def processor(settings) -> Iterator[None]:
    """Demo payments go through the processor, as under `make run`: a sandbox on a free port."""
    from sandbox.server import start_in_thread

    with start_in_thread(port=0) as handle:
        settings.STRIPE_API_BASE = handle.url
        yield


def _run() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_merchants_and_one_login_per_role():
    output = _run()
    demo = Merchant.objects.get(slug="demo")
    acme = Merchant.objects.get(slug="acme")
    assert (demo.legal_name, demo.country, demo.default_currency) == (
        "Demo Coffee Ltd",
        "GB",
        "gbp",
    )
    assert (acme.legal_name, acme.country, acme.default_currency) == ("Acme Corp", "US", "usd")
    owner = User.objects.get(email=OWNER)
    assert set(owner.memberships.values_list("merchant__slug", "role")) == {
        ("demo", Role.OWNER),
        ("acme", Role.OWNER),
    }
    for role in Role.values:
        email = f"{role}@demo.ledgerline.test"
        user = User.objects.get(email=email)
        assert user.check_password(DEMO_PASSWORD)
        assert Membership.objects.filter(user=user, merchant=demo, role=role).exists()
        assert email in output
    assert DEMO_PASSWORD in output
    assert len(DEMO_PASSWORD) >= 12


def test_seed_demo_is_idempotent():
    _run()
    counts = (User.objects.count(), Merchant.objects.count(), Membership.objects.count())
    _run()
    assert (User.objects.count(), Merchant.objects.count(), Membership.objects.count()) == counts


def test_seed_demo_logs_in(client):
    _run()
    response = client.post("/accounts/login/", {"email": OWNER, "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_seed_demo_refuses_production_settings(settings):
    settings.DEBUG = False
    settings.SETTINGS_MODULE = "config.settings.production"
    with pytest.raises(CommandError, match="production settings"):
        _run()
    assert not User.objects.filter(email=OWNER).exists()


def test_seed_demo_adds_customers_payments_and_a_link_through_the_processor():
    output = _run()
    for slug in ("demo", "acme"):
        merchant = Merchant.objects.get(slug=slug)
        payments = Payment.objects.filter(merchant=merchant)
        statuses = set(payments.values_list("status", flat=True))
        assert {"succeeded", "requires_capture", "requires_payment_method"} <= statuses
        assert payments.filter(amount_refunded__gt=0).count() == 1
        assert all(p.stripe_payment_intent_id.startswith("pi_") for p in payments)
        assert Customer.objects.filter(merchant=merchant).count() == 4
        assert PaymentLink.objects.filter(merchant=merchant).count() == 1
        assert f"{slug}: 5 demo payments, 4 customers, 1 payment link" in output
    assert "demo payments already present" in _run()
    assert Payment.objects.count() == 10
