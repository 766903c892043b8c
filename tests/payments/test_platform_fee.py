"""The platform fee: staff set it per merchant (validated, audited), every Stripe charge carries
it as an application fee, the processor reports it and Ledgerline shows gross, processor fee,
platform fee and net on the payment page, in the CSV export and in the API.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts import session_security
from accounts.roles import Role
from compliance.actors import Actor
from compliance.models import AuditEntry
from payments.gateways.stripe import resilience
from payments.models import Payment, PlatformFee
from payments.payout_events import merchant_money_reconcile
from payments.services import (
    PlatformFeeInvalidError,
    PlatformFeeTerms,
    merchant_connect_account_ensure,
    payment_capture,
    platform_fee_amount,
    platform_fee_set,
)
from payments.services.platform_fees import platform_fee_prorated
from tests.factories import MerchantFactory, UserFactory, member, verified_client
from tests.payments.conftest import api_client_for
from tests.payments.money_out_support import card_fee, deliver_events

pytestmark = pytest.mark.django_db

STAFF = Actor.system("test-staff")
BODY = {"amount": 10_000, "currency": "gbp", "payment_method": "pm_card_visa"}
# 2.50% of 100.00 GBP plus 0.30 GBP.
TERMS = {"rate_bps": 250, "fixed_amount": 30, "fixed_currency": "gbp"}
FEE = 280


def _merchant_with_fee(**terms):
    merchant = MerchantFactory(default_currency="gbp", country="GB")
    platform_fee_set(merchant=merchant, actor=STAFF, **(terms or TERMS))
    return merchant


# --- The terms and the arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "param"),
    [
        ({"rate_bps": -1, "fixed_amount": 0}, "rate_bps"),
        ({"rate_bps": 10_001, "fixed_amount": 0}, "rate_bps"),  # above 100%
        ({"rate_bps": 2_001, "fixed_amount": 0}, "rate_bps"),  # above the 20% bound
        ({"rate_bps": "250", "fixed_amount": 0}, "rate_bps"),
        ({"rate_bps": 2.5, "fixed_amount": 0}, "rate_bps"),
        ({"rate_bps": True, "fixed_amount": 0}, "rate_bps"),
        ({"rate_bps": 100, "fixed_amount": -30, "fixed_currency": "gbp"}, "fixed_amount"),
        ({"rate_bps": 100, "fixed_amount": 10_001, "fixed_currency": "gbp"}, "fixed_amount"),
        ({"rate_bps": 100, "fixed_amount": 30}, "fixed_currency"),
        ({"rate_bps": 100, "fixed_amount": 30, "fixed_currency": "pounds"}, "fixed_currency"),
    ],
)
def test_bad_terms_are_refused_naming_the_field_and_change_nothing(terms, param):
    """Given a merchant with a fee, when staff give a negative, too large or non-integer
    value, then the error names the field and the fee and the audit log are unchanged."""
    merchant = _merchant_with_fee()
    entries = AuditEntry.objects.count()
    with pytest.raises(PlatformFeeInvalidError) as refused:
        platform_fee_set(merchant=merchant, actor=STAFF, **terms)
    assert refused.value.param == param
    assert refused.value.status_code == 400
    row = PlatformFee.objects.get(merchant=merchant)
    assert (row.rate_bps, row.fixed_amount, row.fixed_currency) == (250, 30, "gbp")
    assert AuditEntry.objects.count() == entries


def test_setting_the_fee_is_audited_with_before_and_after_in_the_same_transaction(monkeypatch):
    """The entry names the merchant, before and after; when writing it fails, the fee is not
    changed either (one transaction)."""
    from payments.services import _common

    merchant = _merchant_with_fee()
    platform_fee_set(merchant=merchant, actor=STAFF, rate_bps=100, fixed_amount=0)
    entry = AuditEntry.objects.filter(action="platform_fee.set").order_by("-id").first()
    assert entry is not None
    assert (entry.merchant_public_id, entry.target_id) == (merchant.public_id, merchant.public_id)
    assert entry.payload["before"] == {"rate_bps": 250, "fixed_amount": 30, "fixed_currency": "gbp"}
    assert entry.payload["after"] == {"rate_bps": 100, "fixed_amount": 0, "fixed_currency": ""}

    def audit_fails(**_kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(_common, "audit_record", audit_fails)
    with pytest.raises(RuntimeError):
        platform_fee_set(merchant=merchant, actor=STAFF, rate_bps=900, fixed_amount=0)
    assert PlatformFee.objects.get(merchant=merchant).rate_bps == 100


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (10_000, "gbp", 280),  # 250.0 + 30
        (1_002, "gbp", 55),  # 25.05 rounds half up to 25, + 30
        (1_010, "gbp", 55),  # 25.25 -> 25, + 30
        (1_020, "gbp", 56),  # 25.5 -> 26, + 30
        (10_000, "eur", 250),  # the fixed part is GBP only
        (50, "gbp", 31),  # 1.25 -> 1, + 30
        (20, "gbp", 20),  # never more than the charge
    ],
)
def test_the_fee_is_the_rate_rounded_half_up_plus_the_fixed_part_capped_at_the_amount(
    amount, currency, expected
):
    terms = PlatformFeeTerms(**TERMS)
    assert platform_fee_amount(terms=terms, amount=amount, currency=currency) == expected


def test_a_partial_capture_carries_its_share_of_the_fee():
    assert platform_fee_prorated(requested=280, amount=10_000, captured=5_000) == 140
    assert platform_fee_prorated(requested=281, amount=10_000, captured=5_000) == 141
    assert platform_fee_prorated(requested=0, amount=10_000, captured=5_000) == 0


# --- Staff only, in the admin ------------------------------------------------------------------


def _staff(*codenames: str):
    user = UserFactory(is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def test_staff_with_the_permission_and_a_fresh_code_set_the_fee_in_the_admin():
    merchant = _merchant_with_fee()
    row = PlatformFee.objects.get(merchant=merchant)
    staff = _staff("view_platformfee", "change_platformfee")
    client = verified_client(staff)
    url = reverse("admin:payments_platformfee_change", args=[row.pk])
    response = client.post(url, {"rate_bps": "150", "fixed_amount": "20", "fixed_currency": "GBP"})
    assert response.status_code == 302, response.content.decode()[:2000]
    row.refresh_from_db()
    assert (row.rate_bps, row.fixed_amount, row.fixed_currency) == (150, 20, "gbp")
    entry = AuditEntry.objects.filter(action="platform_fee.set").order_by("-id").first()
    assert entry is not None
    assert entry.actor_id == staff.public_id
    assert entry.payload["before"]["rate_bps"] == 250


def test_staff_add_a_fee_for_a_merchant_without_one():
    merchant = MerchantFactory()
    staff = _staff("view_platformfee", "add_platformfee")
    client = verified_client(staff)
    response = client.post(
        reverse("admin:payments_platformfee_add"),
        {"merchant": merchant.pk, "rate_bps": "100", "fixed_amount": "0", "fixed_currency": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = PlatformFee.objects.get(merchant=merchant)
    assert (row.rate_bps, row.fixed_amount, row.fixed_currency) == (100, 0, "")
    entry = AuditEntry.objects.get(action="platform_fee.set", merchant_public_id=merchant.public_id)
    assert entry.payload["before"] == {"rate_bps": 0, "fixed_amount": 0, "fixed_currency": ""}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"rate_bps": "abc", "fixed_amount": "0"}, "Enter a whole number."),
        ({"rate_bps": "-5", "fixed_amount": "0"}, "greater than or equal to 0"),
        ({"rate_bps": "12000", "fixed_amount": "0"}, "between 0 and 2000"),
        ({"rate_bps": "100", "fixed_amount": "30"}, "needs its currency"),
    ],
)
def test_the_admin_refuses_bad_input_with_a_clear_message_and_changes_nothing(form, message):
    merchant = _merchant_with_fee()
    row = PlatformFee.objects.get(merchant=merchant)
    client = verified_client(_staff("view_platformfee", "change_platformfee"))
    entries = AuditEntry.objects.count()
    url = reverse("admin:payments_platformfee_change", args=[row.pk])
    response = client.post(url, {"fixed_currency": "", **form})
    assert response.status_code == 200
    assert message in response.content.decode()
    row.refresh_from_db()
    assert (row.rate_bps, row.fixed_amount) == (250, 30)
    assert AuditEntry.objects.count() == entries


def test_staff_without_the_permission_or_with_a_stale_code_change_nothing():
    merchant = _merchant_with_fee()
    row = PlatformFee.objects.get(merchant=merchant)
    url = reverse("admin:payments_platformfee_change", args=[row.pk])
    form = {"rate_bps": "1000", "fixed_amount": "0", "fixed_currency": ""}
    viewer = verified_client(_staff("view_platformfee"))
    assert viewer.post(url, form).status_code == 403
    stale = verified_client(_staff("view_platformfee", "change_platformfee"))
    session = stale.session
    session[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    session.save()
    response = stale.post(url, form)
    assert response.status_code == 302
    assert reverse("accounts:step_up") in response["Location"]
    row.refresh_from_db()
    assert row.rate_bps == 250


def test_a_merchant_sees_the_fee_read_only_and_cannot_change_it():
    """The balance page states the fee with no form for it; the merchant's owner reaches no
    admin page and the API has no endpoint that changes it."""
    merchant = _merchant_with_fee()
    owner = member(Role.OWNER, merchant=merchant).user
    client = verified_client(owner, merchant=merchant)
    page = client.get(reverse("balance")).content.decode()
    assert 'data-testid="platform-fee">2.50% + £0.30 per GBP charge<' in page
    assert 'name="rate_bps"' not in page
    row = PlatformFee.objects.get(merchant=merchant)
    admin_post = client.post(
        reverse("admin:payments_platformfee_change", args=[row.pk]),
        {"rate_bps": "0", "fixed_amount": "0", "fixed_currency": ""},
    )
    assert admin_post.status_code == 302
    assert "login" in admin_post["Location"]
    api = api_client_for(merchant)
    for path in ("/api/v1/platform-fee", "/api/v1/balance/platform-fee"):
        assert api.post(path, {"rate_bps": 0}, format="json").status_code in (404, 405)
    row.refresh_from_db()
    assert (row.rate_bps, row.fixed_amount) == (250, 30)


# --- Charges carry it; the processor reports it; Ledgerline shows it ---------------------------


def _charge_at_processor(control, account: str, payment: Payment) -> dict:
    [intent] = [
        i for i in control.intents(account=account) if i["id"] == payment.processor_payment_id
    ]
    return intent


def test_a_charge_carries_the_fee_and_shows_gross_fees_and_net_everywhere(money_control):
    """Given a merchant paying 2.50% + 0.30 GBP, when a 100.00 GBP payment is made through
    the API and the processor's events arrive, then the charge carried an application fee of
    2.80, the processor's balance transaction counted it, and the payment page, the CSV and the
    API show gross 100.00, the processor's fee, the platform fee 2.80 and net."""
    merchant = _merchant_with_fee()
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    api = api_client_for(merchant)
    response = api.post("/api/v1/payments", BODY, format="json")
    assert response.status_code == 201, response.json()
    payment = Payment.objects.get(public_id=response.json()["id"])
    assert payment.platform_fee_requested == FEE
    assert _charge_at_processor(money_control, account, payment)["application_fee_amount"] == FEE
    deliver_events(money_control.url, account=account)
    merchant_money_reconcile(merchant=merchant)
    payment.refresh_from_db()
    fee = card_fee(10_000) + FEE
    assert (payment.fee, payment.platform_fee, payment.net) == (fee, FEE, 10_000 - fee)

    body = api.get(f"/api/v1/payments/{payment.public_id}").json()
    assert (body["amount"], body["fee"], body["platform_fee"], body["net"]) == (
        10_000,
        fee,
        FEE,
        10_000 - fee,
    )

    owner = member(Role.ANALYST, merchant=merchant).user
    client = verified_client(owner, merchant=merchant)
    page = client.get(reverse("payment-detail", args=[payment.public_id])).content.decode()
    assert 'data-testid="processor-fee">£3.20<' in page  # 2.9% + 0.30
    assert 'data-testid="platform-fee">£2.80<' in page
    assert f'data-testid="net">£{(10_000 - fee) / 100:.2f}<' in page

    export = client.get(reverse("payments-export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    [row] = [r for r in rows if r["id"] == payment.public_id]
    assert (row["amount"], row["fee"], row["platform_fee"], row["net"]) == (
        "10000",
        str(fee),
        str(FEE),
        str(10_000 - fee),
    )


def test_a_refund_keeps_the_platform_fee(money_control):
    """Stripe's default, kept: refunding the payment returns the amount, not the fee."""
    merchant = _merchant_with_fee()
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    api = api_client_for(merchant)
    payment_id = api.post("/api/v1/payments", BODY, format="json").json()["id"]
    refund = api.post(f"/api/v1/payments/{payment_id}/refunds", {}, format="json")
    assert refund.status_code in (200, 201), refund.json()
    deliver_events(money_control.url, account=account)
    merchant_money_reconcile(merchant=merchant)
    payment = Payment.objects.get(public_id=payment_id)
    assert payment.platform_fee == FEE
    [refunded] = payment.refunds.all()
    assert (refunded.fee, refunded.net) == (0, -10_000)


def test_a_partial_capture_sends_its_share_of_the_fee(money_control):
    merchant = _merchant_with_fee()
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    api = api_client_for(merchant)
    response = api.post("/api/v1/payments", {**BODY, "capture_method": "manual"}, format="json")
    payment = Payment.objects.get(public_id=response.json()["id"])
    payment_capture(payment=payment, actor=STAFF, amount=5_000)
    assert _charge_at_processor(money_control, account, payment)["application_fee_amount"] == 140
    deliver_events(money_control.url, account=account)
    merchant_money_reconcile(merchant=merchant)
    payment.refresh_from_db()
    assert (payment.platform_fee, payment.fee) == (140, card_fee(5_000) + 140)


def test_a_lost_answer_retried_charges_once_with_the_fee_of_the_first_attempt(
    money_control, monkeypatch
):
    """Given the processor charged and its answer was lost, and staff then raised the fee,
    when the client retries with the same Idempotency-Key, then there is one charge, one
    application fee, and it is the fee the payment was created with."""
    merchant = _merchant_with_fee()
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    api = api_client_for(merchant)
    monkeypatch.setattr(resilience, "MAX_ATTEMPTS", 1)
    money_control.fault(kind="lose_response", count=1, method="POST", path="/v1/payment_intents")
    first = api.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="fee-1")
    assert first.status_code == 503
    platform_fee_set(merchant=merchant, actor=STAFF, rate_bps=1_000, fixed_amount=0)
    second = api.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="fee-1")
    assert second.status_code == 201, second.json()
    [payment] = Payment.objects.filter(merchant=merchant)
    assert payment.platform_fee_requested == FEE
    charges = money_control.charges(account=account)
    assert len(charges) == 1
    assert charges[0]["application_fee_amount"] == FEE
    deliver_events(money_control.url, account=account)
    merchant_money_reconcile(merchant=merchant)
    payment.refresh_from_db()
    assert payment.platform_fee == FEE


def test_a_payment_link_charge_carries_the_fee(money_control):
    """The pay page (payment links) charges with the fee as the API does."""
    from django.test import Client

    from tests.payments.factories import PaymentLinkFactory

    merchant = _merchant_with_fee()
    account = merchant_connect_account_ensure(merchant=merchant).processor_account_id
    link = PaymentLinkFactory(merchant=merchant, amount=2_000, currency="gbp")
    customer = Client(enforce_csrf_checks=True)
    url = reverse("pay", kwargs={"token": link.token})
    html = customer.get(url).content.decode()
    fields = {
        name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        for name in ("attempt", "csrfmiddlewaretoken")
    }
    assert customer.post(url, {**fields, "payment_method": "pm_card_visa"}).status_code == 303
    [payment] = Payment.objects.filter(payment_link=link)
    assert payment.platform_fee_requested == 80  # 2.50% of 20.00 + 0.30
    assert _charge_at_processor(money_control, account, payment)["application_fee_amount"] == 80
