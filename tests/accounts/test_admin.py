"""Admin: read-mostly account pages that never show a password hash, key hash or token hash."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from accounts.api_keys import generate_secret, hash_secret
from accounts.models import ApiKey, Invitation
from accounts.roles import Role
from compliance.models import AuditEntry
from tests.factories import TEST_PASSWORD, UserFactory, member, verified_client

pytestmark = pytest.mark.django_db


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
    Client().post(
        reverse("admin:login"),
        {"username": staff.email.upper(), "password": "wrong password 1", "otp_token": "123456"},
    )
    entry = AuditEntry.objects.get(action="auth.login.failed")
    assert entry.target_id == staff.public_id
    attempt = AccessAttempt.objects.get()
    assert attempt.username == staff.email
    assert TEST_PASSWORD not in attempt.post_data
    assert "wrong password 1" not in attempt.post_data
    assert staff.email.upper() not in attempt.post_data
