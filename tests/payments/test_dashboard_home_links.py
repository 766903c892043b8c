"""Home (account status; the overview's figures are tests/payments/test_overview.py), payment
links (create, validation, public address, deactivate) and customers (search, pages, their
payments)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from payments.models import PaymentLink, ProcessorAccount
from tests.factories import member, verified_client
from tests.payments.factories import CustomerFactory, PaymentFactory, PaymentLinkFactory

pytestmark = pytest.mark.django_db


def _client(role: str, merchant) -> Client:
    return verified_client(member(role, merchant).user, merchant=merchant)


@pytest.fixture
def owner(merchant) -> Client:
    return _client(Role.OWNER, merchant)


# --- home -----------------------------------------------------------------------------------


def test_home_offers_onboarding_only_to_roles_that_manage_payments(merchant):
    ProcessorAccount.objects.create(
        merchant=merchant, processor_account_id="acct_pending", charges_enabled=False
    )
    owner_home = _client(Role.OWNER, merchant).get(reverse("home")).content.decode()
    viewer_home = _client(Role.VIEWER, merchant).get(reverse("home")).content.decode()
    assert "Continue onboarding" in owner_home
    assert "Not ready" in viewer_home
    assert "Continue onboarding" not in viewer_home
    assert "An owner or admin can finish setting up card payments." in viewer_home


# --- payment links --------------------------------------------------------------------------


def test_create_a_link_and_show_its_public_address(merchant):
    client = _client(Role.DEVELOPER, merchant)
    expiry = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("payment-link-create"),
        {
            "amount": "12.50",
            "currency": "GBP",
            "description": "Workshop ticket",
            "reusable": "true",
            "expires_at": expiry,
        },
    )
    assert response.status_code == 302
    link = PaymentLink.objects.get(merchant=merchant)
    assert (link.amount, link.currency, link.reusable) == (1250, "gbp", True)
    assert link.expires_at is not None
    page = client.get(reverse("payment-links")).content.decode()
    assert f"Share this address: http://testserver/pay/{link.token}/" in page
    assert f'value="http://testserver/pay/{link.token}/"' in page
    assert "£12.50" in page


def test_zero_decimal_currency_link_in_major_units(merchant, owner):
    owner.post(
        reverse("payment-link-create"),
        {"amount": "500", "currency": "jpy", "description": "Tea", "reusable": "false"},
    )
    link = PaymentLink.objects.get(merchant=merchant)
    assert (link.amount, link.currency, link.reusable) == (500, "jpy", False)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "12.345"}, "GBP amounts have at most 2 decimal places."),
        ({"amount": "0.10"}, "Amount must be at least £0.30."),
        ({"amount": "ten"}, "Enter an amount such as 12.50."),
        ({"currency": "pounds"}, "Ensure this value has at most 3 characters"),
        ({"currency": "g1p"}, "three-letter ISO 4217 code"),
        ({"description": ""}, "This field is required."),
        ({"reusable": "maybe"}, "Select a valid choice."),
        ({"expires_at": "2001-01-01T00:00"}, "The expiry must be in the future."),
        ({"expires_at": "tomorrow"}, "Enter a valid date/time."),
    ],
)
def test_invalid_link_input_is_shown_on_the_form(merchant, owner, fields, message):
    data = {"amount": "12.50", "currency": "gbp", "description": "Ticket", "reusable": "false"}
    response = owner.post(reverse("payment-link-create"), {**data, **fields})
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not PaymentLink.objects.filter(merchant=merchant).exists()


def test_deactivate_a_link(merchant, owner):
    link = PaymentLinkFactory(merchant=merchant)
    response = owner.post(reverse("payment-link-deactivate", args=[link.public_id]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert not link.active
    assert link.deactivated_at is not None
    page = owner.get(reverse("payment-links")).content.decode()
    assert "Deactivated" in page
    assert reverse("payment-link-deactivate", args=[link.public_id]) not in page


def test_link_states_are_labelled(merchant, owner):
    PaymentLinkFactory(merchant=merchant, expires_at=timezone.now() - timedelta(hours=1))
    PaymentLinkFactory(merchant=merchant, completed_at=timezone.now(), active=False)
    PaymentLinkFactory(merchant=merchant)
    page = owner.get(reverse("payment-links")).content.decode()
    for label in ("Expired", "Paid", "Active"):
        assert f">{label}</span>" in page


def test_viewers_see_links_without_the_create_form(merchant):
    PaymentLinkFactory(merchant=merchant)
    page = _client(Role.VIEWER, merchant).get(reverse("payment-links")).content.decode()
    assert reverse("payment-link-create") not in page
    assert "/pay/" in page


# --- customers ------------------------------------------------------------------------------


def test_customer_search_by_email_is_case_insensitive(merchant, owner):
    alice = CustomerFactory(merchant=merchant, email="alice@example.test")
    CustomerFactory(merchant=merchant, email="bob@example.test")
    response = owner.get(reverse("customers"), {"email": "Alice@Example.test"})
    assert [c.public_id for c in response.context["page"].items] == [alice.public_id]
    bad = owner.get(reverse("customers"), {"email": "alice"})
    assert bad.status_code == 400
    assert "Enter a valid email address." in bad.content.decode()


def test_customer_pages_cover_everyone_once(merchant, owner):
    created = [CustomerFactory(merchant=merchant).public_id for _ in range(30)]
    first = owner.get(reverse("customers"))
    second = owner.get(reverse("customers") + "?" + first.context["links"]["next"])
    seen = [c.public_id for c in first.context["page"].items + second.context["page"].items]
    assert sorted(seen) == sorted(created)
    assert len(set(seen)) == 30
    assert "next" not in second.context["links"]


def test_customer_detail_lists_only_their_payments(merchant, owner):
    alice = CustomerFactory(merchant=merchant)
    theirs = PaymentFactory(merchant=merchant, customer=alice)
    other = PaymentFactory(merchant=merchant)
    page = owner.get(reverse("customer-detail", args=[alice.public_id])).content.decode()
    assert theirs.public_id in page
    assert other.public_id not in page
