"""`seed_demo`: idempotent demo merchants and logins, refused under production settings."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from payments.models import Payment, PaymentLink, ProcessorAccount, RoutingRank

pytestmark = pytest.mark.django_db
OWNER = "owner@demo.ledgerline.test"


@pytest.fixture(autouse=True)
def processor(settings) -> Iterator[str]:
    """Demo payments go through the processor, as under `make run`: a sandbox on a free port
    (its URL)."""
    from payments.gateways import braintree
    from sandbox.server import start_in_thread

    with start_in_thread(port=0) as handle:
        settings.STRIPE_API_BASE = handle.url
        settings.BRAINTREE_API_BASE = handle.url
        braintree.clear_client_cache()
        braintree.breaker_reset()
        yield handle.url
        braintree.clear_client_cache()
        braintree.breaker_reset()


def _run(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
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
    """acme takes its payments on the sandbox's Braintree (Stripe as secondary), demo on
    Stripe; every payment went through its processor, and a second run adds nothing. (demo's
    money history adds payments of its own: tests/accounts/test_seed_demo_money.py.)"""
    output = _run()
    for slug, processor, refunded in (("demo", "stripe", 1), ("acme", "braintree", 0)):
        merchant = Merchant.objects.get(slug=slug)
        payments = Payment.objects.filter(merchant=merchant, description="Demo order")
        statuses = set(payments.values_list("status", flat=True))
        assert {"succeeded", "requires_capture", "requires_payment_method"} <= statuses
        assert payments.filter(amount_refunded__gt=0).count() == refunded
        assert set(payments.values_list("processor", flat=True)) == {processor}
        assert all(p.processor_payment_id for p in payments)
        assert payments.values("customer").distinct().count() == 4
        assert PaymentLink.objects.filter(merchant=merchant).count() == 1
        assert f"{slug}: 5 demo payments on {processor}, 4 customers, 1 payment link" in output
    assert "acme: takes payments on braintree, stripe while it is down" in output
    acme_ranks = dict(
        ProcessorAccount.objects.filter(merchant__slug="acme").values_list(
            "processor", "routing_rank"
        )
    )
    assert acme_ranks == {"braintree": RoutingRank.PRIMARY, "stripe": RoutingRank.SECONDARY}
    payments_before = Payment.objects.count()
    again = _run()
    assert "demo payments already present" in again
    assert Payment.objects.count() == payments_before
    assert Payment.objects.filter(description="Demo order").count() == 10
    assert ProcessorAccount.objects.count() == 4


def _processor_state() -> dict[str, Any]:
    """Every row seed_demo's processor setup writes, as comparable values."""
    from compliance.models import AuditEntry
    from payments.models import ProcessorCredential

    return {
        "accounts": sorted(
            ProcessorAccount.objects.values_list(
                "merchant__slug", "processor", "processor_account_id", "routing_rank", "updated_at"
            )
        ),
        "credentials": sorted(
            ProcessorCredential.objects.values_list(
                "account__merchant__slug", "public_id", "public_key_digest"
            )
        ),
        "audit": sorted(
            AuditEntry.objects.filter(
                action__in=(
                    "merchant.processor_account_connect",
                    "merchant.processor_routing_update",
                )
            ).values_list("action", "merchant_public_id")
        ),
        "payments": Payment.objects.count(),
    }


def test_demo_takes_payments_on_stripe_with_its_own_braintree_as_secondary():
    """Issue #17's contract: acme on Braintree (primary), demo on Stripe with Braintree as its
    secondary, each on its own sandbox Braintree merchant, connected through the real service
    and ranked through the settings page's routing; a second run changes nothing."""
    output = _run()
    ranks = {
        slug: dict(
            ProcessorAccount.objects.filter(merchant__slug=slug).values_list(
                "processor", "routing_rank"
            )
        )
        for slug in ("acme", "demo")
    }
    assert ranks == {
        "acme": {"braintree": RoutingRank.PRIMARY, "stripe": RoutingRank.SECONDARY},
        "demo": {"stripe": RoutingRank.PRIMARY, "braintree": RoutingRank.SECONDARY},
    }
    braintree_ids = dict(
        ProcessorAccount.objects.filter(processor="braintree").values_list(
            "merchant__slug", "processor_account_id"
        )
    )
    assert braintree_ids == {
        "acme": "ledgerline_sandbox_merchant",
        "demo": "ledgerline_sandbox_demo",
    }
    assert "demo: takes payments on stripe, braintree while it is down" in output
    assert "not connected" not in output
    first = _processor_state()
    connects = [entry for entry in first["audit"] if entry[0].endswith("account_connect")]
    assert len(connects) == 2
    _run()
    assert _processor_state() == first


def test_demos_braintree_takes_a_gbp_payment_and_its_notifications_reach_demo(
    processor, client, django_capture_on_commit_callbacks
):
    """demo's secondary is usable: a GBP card payment sent to Braintree goes through its
    own sandbox merchant's GBP merchant account, and a notification signed with that
    merchant's keys is verified and filed under demo."""
    from urllib.parse import urlencode

    from compliance.actors import Actor
    from inbound.models import InboundEvent
    from payments import services
    from sandbox.client import SandboxControl

    _run()
    demo = Merchant.objects.get(slug="demo")
    payment = services.payment_create(
        merchant=demo,
        actor=Actor.system("tests"),
        amount=1275,
        currency="gbp",
        payment_method="fake-valid-visa-nonce",
        processor="braintree",
    )
    assert (payment.processor, payment.status, payment.currency) == (
        "braintree",
        "succeeded",
        "gbp",
    )
    assert payment.processor_payment_id
    fields = SandboxControl(processor).braintree_sample_notification(
        "transaction_settled", payment.processor_payment_id, merchant_id="ledgerline_sandbox_demo"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/braintree/",
            data=urlencode(fields),
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 200
    event = InboundEvent.objects.get(provider="braintree")
    assert (event.merchant, event.type) == (demo, "transaction_settled")


def _logins(output: str) -> dict[str, dict[str, str]]:
    """The `login key=value ...` lines of seed_demo's output, by email."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("login "):
            fields = dict(part.split("=", 1) for part in line.removeprefix("login ").split(" "))
            rows[fields["email"]] = fields
    return rows


def test_seed_demo_prints_one_parseable_line_per_login_last_with_its_enrolment_link(client):
    output = _run()
    logins = _logins(output)
    expected = {f"{role}@demo.ledgerline.test" for role in Role.values} | {
        "support@staff.ledgerline.test",
        "compliance@staff.ledgerline.test",
    }
    assert set(logins) == expected
    assert output.strip().splitlines()[-len(expected) :] == [
        line for line in output.strip().splitlines() if line.startswith("login ")
    ]
    owner = logins[OWNER]
    assert (owner["password"], owner["role"], owner["merchants"]) == (
        DEMO_PASSWORD,
        "owner",
        "demo,acme",
    )
    assert owner["enrol"].startswith("http://127.0.0.1:8000/accounts/mfa/enroll/")
    # The printed link is what lets the demo owner set up an authenticator.
    path = owner["enrol"].removeprefix("http://127.0.0.1:8000")
    response = client.post(path, {"password": DEMO_PASSWORD})
    assert response["Location"].startswith("/accounts/mfa/enroll/")
    assert "<svg" in client.get("/accounts/mfa/enroll/").content.decode()


def test_seed_demo_creates_platform_staff_in_their_groups():
    from django.contrib.auth.models import Group

    logins = _logins(_run())
    support = User.objects.get(email="support@staff.ledgerline.test")
    compliance = User.objects.get(email="compliance@staff.ledgerline.test")
    assert support.is_staff
    assert compliance.is_staff
    assert not support.is_superuser
    assert not compliance.is_superuser
    assert not support.memberships.exists()
    assert list(compliance.groups.values_list("name", flat=True)) == ["Compliance officers"]
    assert support.has_perm("payments.view_payment")
    assert not support.has_perm("payments.change_payment")
    assert Group.objects.filter(name="Compliance officers").exists()
    assert logins["support@staff.ledgerline.test"]["role"] == "staff-support"
    assert logins["compliance@staff.ledgerline.test"]["merchants"] == "-"


def test_a_rerun_replaces_the_links_and_enrolled_logins_get_none(settings):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    first = _logins(_run())
    TOTPDevice.objects.create(user=User.objects.get(email=OWNER), name="phone", confirmed=True)
    second = _logins(_run("--base-url", "http://127.0.0.1:8123/"))
    assert second[OWNER]["enrol"] == "enrolled"
    viewer = "viewer@demo.ledgerline.test"
    assert second[viewer]["enrol"].startswith("http://127.0.0.1:8123/accounts/mfa/enroll/")
    assert second[viewer]["enrol"] != first[viewer]["enrol"]
