"""A person's first login, in a real browser: the password alone leads to a page about the
enrolment link; the link, TOTP enrollment from the QR secret, backup codes, the dashboard,
logout; and a later login that asks for the code."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings
from django_otp.oath import TOTP

from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from tests.browser.support import BROWSER_TEST

pytestmark = BROWSER_TEST

PASSWORD = "correct horse battery staple"


def _code_for(secret_base32: str) -> str:
    cleaned = "".join(secret_base32.split()).upper()
    key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    return f"{TOTP(key).token():06d}"


@pytest.fixture
def owner() -> User:
    user = User.objects.create_user("owner@shop.test", PASSWORD)
    merchant = Merchant.objects.create(
        slug="shop", legal_name="Corner Shop Ltd", country="GB", default_currency="gbp"
    )
    Membership.objects.create(user=user, merchant=merchant, role=Role.OWNER)
    return user


def _log_in(page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("owner@shop.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_first_login_enrolls_totp_and_reaches_the_dashboard(
    page, live_server, screenshot, owner: User
) -> None:  # type: ignore[no-untyped-def]
    from django.urls import reverse

    from accounts.services import enrolment_link_issue

    issued = enrolment_link_issue(user=owner, issued_by=None, via="test")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    _log_in(page, live_server)

    # The password alone never shows a QR code: the page says how to get an enrolment link.
    page.get_by_role("heading", name="You need an enrolment link").wait_for()
    assert page.locator("svg").count() == 0
    page.goto(live_server.url + reverse("accounts:enrolment_link", args=[issued.token]))
    page.wait_for_url("**/accounts/mfa/enroll/**")
    assert page.locator(".qr svg, svg").first.is_visible()
    screenshot("enroll")
    secret = page.locator("#totp-secret").inner_text()
    page.locator("input[name=token]").fill(_code_for(secret))
    page.get_by_role("button", name="Confirm").click()

    # The codes are shown once, in the confirmation's own response (never at a URL).
    page.get_by_role("heading", name="Save your backup codes").wait_for()
    codes = page.locator("ol.codes code").all_inner_texts()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    screenshot("backup-codes")
    page.get_by_role("link", name="I have saved them, continue").click()

    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Corner Shop Ltd").is_visible()
    assert page.get_by_role("navigation", name="Main").is_visible()
    screenshot("dashboard")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    screenshot("logged-out")


def test_returning_user_is_asked_for_a_code_not_enrollment(
    page, live_server, screenshot, owner: User
) -> None:  # type: ignore[no-untyped-def]
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=owner, name="phone", confirmed=True)
    _log_in(page, live_server)
    page.wait_for_url("**/accounts/mfa/verify/**")
    screenshot("verify")
    page.locator("input[name=token]").fill("000000")
    page.locator("form.form button[type=submit]").click()
    assert "/accounts/mfa/verify/" in page.url
    assert page.locator(".error-summary, .errorlist").first.is_visible()

    # A wrong code throttles the device (django-otp doubles the delay after each failure).
    page.wait_for_timeout(settings.OTP_TOTP_THROTTLE_FACTOR * 1000 + 300)
    secret = base64.b32encode(device.bin_key).decode()
    page.locator("input[name=token]").fill(_code_for(secret))
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Corner Shop Ltd").is_visible()
