"""Home (30-day volume chart, success rate, refunds, account status), payment links (create,
validation, public address, deactivate) and customers (search, pages, their payments)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from payments.charts import bar_chart
from payments.models import PaymentLink, ProcessorAccount, Refund, RefundStatus
from payments.reports import DailyVolume
from payments.state import PaymentStatus
from tests.factories import member, verified_client
from tests.payments.factories import CustomerFactory, PaymentFactory, PaymentLinkFactory

pytestmark = pytest.mark.django_db


def _client(role: str, merchant) -> Client:
    return verified_client(member(role, merchant).user, merchant=merchant)


@pytest.fixture
def owner(merchant) -> Client:
    return _client(Role.OWNER, merchant)


# --- home -----------------------------------------------------------------------------------


def test_home_sums_the_last_30_days_by_currency(merchant, owner):
    now = timezone.now()
    PaymentFactory(merchant=merchant, amount=1000, created_at=now)
    paid = PaymentFactory(merchant=merchant, amount=3000, created_at=now - timedelta(days=2))
    PaymentFactory(merchant=merchant, amount=9999, created_at=now - timedelta(days=31))
    PaymentFactory(merchant=merchant, amount=700, currency="eur", created_at=now)
    PaymentFactory(
        merchant=merchant,
        status=PaymentStatus.REQUIRES_PAYMENT_METHOD,
        failure_code="card_declined",
        created_at=now,
    )
    PaymentFactory(merchant=merchant, status=PaymentStatus.REQUIRES_ACTION, created_at=now)
    Refund.objects.create(
        merchant=merchant,
        payment=paid,
        amount=500,
        currency="gbp",
        status=RefundStatus.SUCCEEDED,
    )
    response = owner.get(reverse("home"))
    summary = response.context["summary"]
    assert summary.primary.currency == "gbp"
    assert (summary.primary.total, summary.primary.refunded) == (4000, 500)
    assert [v.currency for v in summary.others] == ["eur"]
    assert summary.others[0].total == 700
    assert summary.payment_count == 5
    # 3 succeeded, 1 declined; the one waiting for 3-D Secure is not finished.
    assert response.context["success_rate"] == "75.0%"
    body = response.content.decode()
    assert "£40.00" in body
    assert "€7.00" in body
    assert "£5.00" in body


def test_home_chart_is_svg_with_attribute_sizes_and_no_inline_style_or_script(merchant, owner):
    PaymentFactory(merchant=merchant, amount=1000, created_at=timezone.now())
    body = owner.get(reverse("home")).content.decode()
    assert body.count("<svg") == 1
    assert len(re.findall(r'<rect x="\d+" y="\d+" width="\d+" height="\d+"', body)) == 30
    assert "style=" not in body
    assert "<style" not in body
    for tag in re.findall(r"<script[^>]*>", body):
        assert 'src="/static/' in tag
        assert "nonce=" in tag


def test_bar_heights_scale_to_the_busiest_day_in_whole_pixels():
    day = timezone.now().date()
    days = [
        DailyVolume(day=day, amount=0),
        DailyVolume(day=day, amount=1),
        DailyVolume(day=day, amount=5000),
        DailyVolume(day=day, amount=10000),
    ]
    chart = bar_chart(days, "gbp")
    heights = [bar.height for bar in chart.bars]
    assert heights == [0, 1, chart.baseline // 2, chart.baseline]
    assert all(bar.y + bar.height == chart.baseline for bar in chart.bars)
    assert chart.bars[3].label.endswith(": £100.00")


def test_home_without_payments_says_so(owner):
    body = owner.get(reverse("home")).content.decode()
    assert "No succeeded payments in GBP in the last 30 days." in body
    assert "no finished payments yet" in body


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
