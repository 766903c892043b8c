"""Platform staff in a real browser: a first login to the admin walks through enrolment with
the staff member's enrolment link and lands in the admin; a later login stays logged in."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.management.commands.seed_demo import SUPPORT_GROUP, staff_groups
from accounts.models import User
from accounts.services import enrolment_link_issue
from tests.browser.support import BROWSER_TEST

pytestmark = BROWSER_TEST

PASSWORD = "correct horse battery staple"
EMAIL = "support@staff.test"


def _code_for(key: bytes) -> str:
    return f"{TOTP(key).token():06d}"


@pytest.fixture
def support() -> User:
    user = User.objects.create_user(EMAIL, PASSWORD, full_name="Sam Support", is_staff=True)
    user.groups.set([staff_groups()[SUPPORT_GROUP]])
    return user


def _log_in_from_the_admin(page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_first_admin_login_enrols_through_the_enrolment_link_and_lands_in_the_admin(
    page, live_server, screenshot, support: User
) -> None:  # type: ignore[no-untyped-def]
    issued = enrolment_link_issue(user=support, issued_by=None, via="test")
    _log_in_from_the_admin(page, live_server)

    # The password alone: a page that says how to get an enrolment link, never a QR code.
    page.get_by_role("heading", name="You need an enrolment link").wait_for()
    assert page.locator("svg").count() == 0
    assert "not part of a merchant" not in page.content()
    screenshot("enrolment-needed")

    page.goto(live_server.url + reverse("accounts:enrolment_link", args=[issued.token]))
    page.wait_for_url("**/accounts/mfa/enroll/**")
    assert page.locator(".qr svg, svg").first.is_visible()
    screenshot("enrol")
    secret = page.locator("#totp-secret").inner_text()
    cleaned = "".join(secret.split())
    key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    page.locator("input[name=token]").fill(_code_for(key))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Save your backup codes").wait_for()
    page.get_by_role("link", name="I have saved them, continue").click()

    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.get_by_text("Ledgerline administration").first.is_visible()
    payments = page.locator("a[href='/admin/payments/payment/']").first
    assert payments.is_visible()
    screenshot("admin")
    payments.click()
    page.wait_for_url("**/admin/payments/payment/")
    assert "/accounts/login/" not in page.url
    assert TOTPDevice.objects.filter(user=support, confirmed=True).count() == 1


def test_an_admin_login_stays_logged_in_on_the_next_requests(
    page, live_server, screenshot, support: User
) -> None:  # type: ignore[no-untyped-def]
    device = TOTPDevice.objects.create(user=support, name="phone", confirmed=True)
    _log_in_from_the_admin(page, live_server)
    page.wait_for_url("**/accounts/mfa/verify/**")
    page.locator("input[name=token]").fill(_code_for(device.bin_key))
    page.locator("form.form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    for path in ("/admin/payments/customer/", "/admin/", "/admin/payments/refund/"):
        page.goto(live_server.url + path)
        assert page.url == live_server.url + path, page.url
        assert page.get_by_text("Ledgerline administration").first.is_visible()
    screenshot("admin-second-request")
