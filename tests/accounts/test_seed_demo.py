"""`seed_demo`: idempotent demo merchants and logins, refused under production settings."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import Membership, Merchant, User
from accounts.roles import Role

pytestmark = pytest.mark.django_db
OWNER = "owner@demo.ledgerline.test"


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
