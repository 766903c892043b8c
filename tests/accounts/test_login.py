"""Login: email + password through axes and the model backend, one message for every failure."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import base_user
from django.test import Client
from django.urls import reverse

from accounts import session_security
from accounts.forms import LOGIN_ERROR
from compliance.models import AuditEntry
from tests.factories import TEST_PASSWORD, TOTPDeviceFactory, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = reverse("accounts:login")


def _post_login(client: Client, email: str, password: str, **extra: str):
    return client.post(LOGIN, {"email": email, "password": password, **extra})


def test_login_page_renders_with_autocomplete_and_csrf():
    response = Client(enforce_csrf_checks=True).get(LOGIN)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'autocomplete="username"' in body
    assert 'autocomplete="current-password"' in body
    assert "csrfmiddlewaretoken" in body


def test_login_post_without_csrf_token_is_refused():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    response = _post_login(client, user.email, TEST_PASSWORD)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_login_without_device_goes_to_enrollment_and_rotates_session_key():
    user = UserFactory()
    client = Client()
    client.get(LOGIN)
    session = client.session
    session["probe"] = "x"
    session.save()
    key_before = session.session_key

    response = _post_login(client, user.email, TEST_PASSWORD)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa_enroll"))
    assert client.session.session_key != key_before
    assert client.session[session_security.AUTHENTICATED_AT]


def test_login_with_device_goes_to_verification_keeping_next():
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    response = _post_login(Client(), user.email, TEST_PASSWORD, next="/team/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:mfa_verify") + "?next=%2Fteam%2F"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_login_ignores_offsite_next(target):
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    response = _post_login(Client(), user.email, TEST_PASSWORD, next=target)
    assert response["Location"] == reverse("accounts:mfa_verify") + "?next=%2F"


def test_email_is_case_insensitive():
    user = UserFactory(email="casey@example.test")
    response = _post_login(Client(), "Casey@Example.TEST", TEST_PASSWORD)
    assert response.status_code == 302
    assert AuditEntry.objects.filter(
        action="auth.login.succeeded", actor_id=user.public_id
    ).exists()


def test_unknown_email_and_wrong_password_get_the_same_answer():
    user = UserFactory()
    wrong = _post_login(Client(), user.email, "not the password at all")
    unknown = _post_login(Client(), "nobody@example.test", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    assert LOGIN_ERROR in wrong.content.decode()
    assert LOGIN_ERROR in unknown.content.decode()
    assert wrong.context["form"].errors == unknown.context["form"].errors


def test_unknown_email_still_runs_the_password_hasher():
    """The model backend hashes the password for unknown users (timing parity), axes or not."""
    with mock.patch.object(base_user, "make_password", wraps=base_user.make_password) as spy:
        _post_login(Client(), "nobody@example.test", "some password 123")
    spy.assert_called_once()


def test_inactive_user_gets_the_same_answer():
    user = UserFactory(is_active=False)
    response = _post_login(Client(), user.email, TEST_PASSWORD)
    assert response.status_code == 200
    assert LOGIN_ERROR in response.content.decode()


def test_failed_login_audit_names_known_user_by_public_id_only():
    user = UserFactory()
    _post_login(Client(), user.email, "wrong password here")
    _post_login(Client(), "ghost@example.test", "wrong password here")
    known, unknown = AuditEntry.objects.filter(action="auth.login.failed").order_by("pk")
    assert known.target_id == user.public_id
    assert known.outcome == "failure"
    assert unknown.target_id == ""
    for entry in (known, unknown):
        dumped = str(entry.payload) + entry.target_id + entry.actor_id
        assert "@" not in dumped
        assert "wrong password" not in dumped


def test_logout_is_post_only_and_audited():
    from tests.factories import verified_client

    user = UserFactory()
    client = verified_client(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.logout", actor_id=user.public_id).exists()
