"""A data request end to end in a real browser: a merchant opens an erasure for a customer
from the customer's page (attesting the requester's identity); a compliance officer, another
person, approves it in the admin after a fresh one-time code (step-up); execution runs (eager
Celery in tests); the merchant downloads the deletion certificate and it verifies offline."""

from __future__ import annotations

import io
from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import session_security
from accounts.management.commands.seed_demo import COMPLIANCE_GROUP, staff_groups
from accounts.models import Membership, Merchant, User
from accounts.roles import Role
from compliance.models import DataRequest, DataRequestStatus
from payments.models import Customer
from tests.browser.support import BROWSER_TEST
from tests.factories import totp_now

pytestmark = BROWSER_TEST

PASSWORD = "correct horse battery staple"
OWNER, OFFICER = "owner@shop.test", "officer@staff.test"
EMAIL = "ana.lima@example.test"


@pytest.fixture
def owner() -> User:
    user = User.objects.create_user(OWNER, PASSWORD, full_name="Olive Owner")
    merchant = Merchant.objects.create(
        slug="shop", legal_name="Corner Shop Ltd", country="GB", default_currency="gbp"
    )
    Membership.objects.create(user=user, merchant=merchant, role=Role.OWNER)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


@pytest.fixture
def officer() -> User:
    user = User.objects.create_user(OFFICER, PASSWORD, full_name="Cleo Compliance", is_staff=True)
    user.groups.set([staff_groups()[COMPLIANCE_GROUP]])
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def _log_in(page, url: str, email: str, user: User) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/mfa/verify/**")
    page.locator("input[name=token]").fill(totp_now(TOTPDevice.objects.get(user=user)))
    page.get_by_role("button", name="Verify").click()


def _age_step_up(context) -> None:  # type: ignore[no-untyped-def]
    """Make the session's last one-time code six minutes old: the next sensitive action asks
    for a fresh one."""
    cookie = next(c for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])
    store[session_security.OTP_VERIFIED_AT] = (timezone.now() - timedelta(minutes=6)).isoformat()
    store.save()


def test_merchant_opens_an_erasure_officer_approves_with_a_fresh_code_certificate_verifies(
    browser, page, live_server, screenshot, *, owner: User, officer: User, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    merchant = Merchant.objects.get(slug="shop")
    customer = Customer.objects.create(merchant=merchant, email=EMAIL, name="Ana Lima")

    # The merchant opens the request from the customer's page.
    _log_in(page, f"{live_server.url}/customers/{customer.public_id}/", OWNER, owner)
    page.wait_for_url(f"**/customers/{customer.public_id}/")
    page.get_by_role("link", name="Data request").click()
    page.wait_for_url("**/compliance/data-requests/new/**")
    assert page.get_by_label("Customer (cus_… id or email address)").input_value() == (
        customer.public_id
    )
    page.get_by_label("Erasure (Art. 17)").check()
    page.get_by_label("Ground for erasure (Art. 17(1))").select_option("art17_1_b")
    page.get_by_label("How did you verify the requester's identity?").fill(
        "The request came from the email address on file."
    )
    page.get_by_label("I attest that we verified the requester is this customer.").check()
    screenshot("merchant-form")
    page.get_by_role("button", name="Open request").click()
    page.wait_for_url("**/compliance/data-requests/dsr_*/")
    data_request = DataRequest.objects.get()
    assert data_request.status == DataRequestStatus.VERIFIED
    assert page.locator("#request-state").inner_text() == "Identity verified"
    screenshot("merchant-opened")

    # The officer, another person, approves it in the admin behind a fresh one-time code.
    officer_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = officer_context.new_page()
    admin.set_default_timeout(15_000)
    change = f"{live_server.url}/admin/compliance/datarequest/{data_request.pk}/change/"
    _log_in(admin, change, OFFICER, officer)
    admin.wait_for_url(change)
    assert admin.get_by_text(data_request.public_id).first.is_visible()
    _age_step_up(officer_context)
    admin.get_by_role("link", name="Approve and execute").click()
    admin.wait_for_url("**/accounts/mfa/step-up/**")
    admin.get_by_role("heading", name="Confirm it's you").wait_for()
    # The next time step's code: the login's code is spent, and a replayed code is refused.
    fresh = totp_now(
        TOTPDevice.objects.get(user=officer), at=timezone.now() + timedelta(seconds=30)
    )
    admin.locator("input[name=token]").fill(fresh)
    admin.get_by_role("button", name="Confirm").click()
    admin.wait_for_url("**/act/approve/")
    admin.get_by_role("button", name="Confirm").click()
    admin.wait_for_url(change)
    assert admin.get_by_text("approve and execute: done").first.is_visible()
    officer_context.close()

    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    assert data_request.approved_by == f"user:{officer.public_id}"
    assert data_request.opened_by == f"user:{owner.public_id}"

    # The merchant sees it completed and downloads the certificate, which verifies offline.
    page.reload()
    assert page.locator("#request-state").inner_text() == "Completed"
    screenshot("merchant-completed")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the deletion certificate").click()
    path = tmp_path / "certificate.json"
    download_info.value.save_as(path)
    out = io.StringIO()
    call_command("verify_certificate", str(path), stdout=out)
    assert f"OK: genuine certificate for {data_request.public_id}" in out.getvalue()
    assert EMAIL not in path.read_text()
