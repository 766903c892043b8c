"""A payout's detail in a real browser: the merchant opens the balance page, follows a payout,
sees what it contains adding up to its amount, at desktop and phone width (screenshots kept),
and the CSV export link downloads the items."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from payments.models import BalanceTransaction, BalanceTransactionType, Payment, Payout
from tests.browser.support import BROWSER_TEST
from tests.factories import totp_now

pytestmark = BROWSER_TEST

PASSWORD = "correct horse battery staple"
EMAIL = "owner@payouts.test"


def _seed() -> tuple[User, Payout, list[Payment]]:
    user = User.objects.create_user(EMAIL, PASSWORD, full_name="Olive Owner")
    merchant = Merchant.objects.create(
        slug="payouts", legal_name="Payout Shop Ltd", country="GB", default_currency="gbp"
    )
    Membership.objects.create(user=user, merchant=merchant, role=Role.OWNER)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    now = timezone.now()
    payout = Payout.objects.create(
        merchant=merchant,
        processor_payout_id="po_browser",
        amount=9_417 + 4_780,
        currency="gbp",
        status="paid",
        arrival_date=now,
        processor_created_at=now - timedelta(days=1),
    )
    payments = []
    for index, (amount, fee) in enumerate(((10_000, 583), (5_000, 220))):
        payment = Payment.objects.create(
            merchant=merchant,
            amount=amount,
            amount_captured=amount,
            currency="gbp",
            status="succeeded",
            processor_payment_method_id="pm_card_visa",
            fee=fee,
            platform_fee=0,
            net=amount - fee,
        )
        payments.append(payment)
        BalanceTransaction.objects.create(
            merchant=merchant,
            processor_transaction_id=f"txn_browser_{index}",
            type=BalanceTransactionType.CHARGE,
            amount=amount,
            fee=fee,
            net=amount - fee,
            currency="gbp",
            payment=payment,
            payout=payout,
            available_on=now - timedelta(days=2),
            processor_created_at=now - timedelta(days=3, minutes=index),
        )
    return user, payout, payments


def test_merchant_opens_a_payout_and_sees_exactly_what_it_contains(
    browser, page, live_server, screenshot
) -> None:  # type: ignore[no-untyped-def]
    user, payout, payments = _seed()
    page.goto(f"{live_server.url}/balance/")
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/mfa/verify/**")
    page.locator("input[name=token]").fill(totp_now(TOTPDevice.objects.get(user=user)))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/balance/")
    page.get_by_role("link", name=payout.public_id).click()
    page.wait_for_url(f"**/balance/payouts/{payout.public_id}/")
    assert page.get_by_test_id("contents-net").inner_text() == "£141.97"
    assert page.get_by_text("The items' net adds up to the payout's amount.").is_visible()
    for payment in payments:
        assert page.get_by_role("link", name=payment.public_id).is_visible()
    screenshot("desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.get_by_test_id("contents-net").is_visible()
    screenshot("phone")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    assert text.splitlines()[-1].startswith("total,,po_")
    assert text.count("txn_") == 2
