"""Admin: read-mostly account pages that never show a password hash, key hash or token hash."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from accounts import session_security
from accounts.api_keys import generate_secret, hash_secret
from accounts.models import ApiKey, Invitation
from accounts.roles import Role
from compliance.models import AuditEntry
from tests.factories import (
    TEST_PASSWORD,
    TOTPDeviceFactory,
    UserFactory,
    member,
    totp_now,
    verified_client,
)

pytestmark = pytest.mark.django_db


def _follow_to_admin_login(client: Client) -> str:
    """Open /admin/ as a newcomer would and return the URL of the login page it leads to."""
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    url, _status = response.redirect_chain[-1]
    return url


@pytest.fixture
def staff_client() -> Client:
    return verified_client(UserFactory(is_staff=True, is_superuser=True))


def test_user_admin_shows_no_password_hash(staff_client):
    user = UserFactory()
    body = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert user.email in body
    assert user.password not in body
    assert "md5$" not in body
    assert 'name="password"' not in body


def test_api_key_admin_is_read_only_and_hides_the_hash(staff_client):
    owner = member(Role.OWNER)
    secret = generate_secret()
    key = ApiKey.objects.create(
        merchant=owner.merchant, name="Server", prefix=secret[:12], secret_hash=hash_secret(secret)
    )
    page = staff_client.get(reverse("admin:accounts_apikey_change", args=[key.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert key.secret_hash not in body
    assert secret not in body
    assert staff_client.get(reverse("admin:accounts_apikey_add")).status_code == 403


def test_invitation_admin_hides_the_token_hash(staff_client):
    owner = member(Role.OWNER)
    invitation = Invitation.objects.create(
        merchant=owner.merchant,
        email="i@example.test",
        role=Role.VIEWER,
        token_hash="f" * 64,
        expires_at="2099-01-01T00:00:00Z",
    )
    url = reverse("admin:accounts_invitation_change", args=[invitation.pk])
    assert "f" * 64 not in staff_client.get(url).content.decode()


def test_admin_pages_need_an_otp_verified_staff_session():
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_login_failures_are_audited_and_counted_by_axes():
    staff = UserFactory(is_staff=True)
    client = Client()
    client.post(
        _follow_to_admin_login(client),
        {"email": staff.email.upper(), "password": "wrong password 1"},
    )
    entry = AuditEntry.objects.get(action="auth.login.failed")
    assert entry.target_id == staff.public_id
    attempt = AccessAttempt.objects.get()
    assert attempt.username == staff.email
    assert TEST_PASSWORD not in attempt.post_data
    assert "wrong password 1" not in attempt.post_data
    assert staff.email.upper() not in attempt.post_data


def test_staff_logs_in_from_the_admin_and_stays_logged_in_for_the_next_requests():
    """The admin's login is the dashboard's: password, OTP, then /admin/ on every request."""
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDeviceFactory(user=staff)
    client = Client()

    login_url = _follow_to_admin_login(client)
    assert login_url.startswith(reverse("accounts:login"))
    response = client.post(login_url, {"email": staff.email, "password": TEST_PASSWORD})
    assert response["Location"].startswith(reverse("accounts:mfa_verify"))
    response = client.post(response["Location"], {"token": totp_now(device)})
    assert response["Location"] == reverse("admin:index")

    for _ in range(2):
        page = client.get(reverse("admin:index"))
        assert page.status_code == 200
        assert "Ledgerline administration" in page.content.decode()
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 200


def test_a_login_through_djangos_login_function_records_the_login_time():
    """Every login path (not only the dashboard's view) starts the session clocks."""
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    assert client.session[session_security.AUTHENTICATED_AT]
    for _ in range(2):
        # No authenticator and no enrolment link: the page that says how to get one.
        response = client.get(reverse("accounts:mfa_enroll"))
        assert response.status_code == 403
        assert "You need an enrolment link" in response.content.decode()
    assert "_auth_user_id" in client.session


def test_the_admin_login_form_never_authenticates_on_its_own():
    """Credentials posted to /admin/login/ are not checked there: one login path, one lockout."""
    staff = UserFactory(is_staff=True)
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": staff.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


def test_staff_without_a_merchant_who_logs_in_at_the_dashboard_lands_in_the_admin():
    staff = UserFactory(is_staff=True)
    client = verified_client(staff)
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert "not part of a merchant" not in response.content.decode()
