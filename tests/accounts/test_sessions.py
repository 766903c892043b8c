"""Sessions: idle and absolute limits, password change ending other sessions, CSRF everywhere."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEntry
from tests.factories import TEST_PASSWORD, UserFactory, verified_client

pytestmark = pytest.mark.django_db
SECURITY = reverse("accounts:security")
LOGIN = reverse("accounts:login")
START = timezone.now().replace(microsecond=0)


def test_idle_session_ends_after_fifteen_minutes_and_is_audited():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        client = verified_client(user)
        clock.shift(timedelta(minutes=14, seconds=59))
        assert client.get(SECURITY).status_code == 200
        clock.shift(timedelta(minutes=15))
        response = client.get(SECURITY)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get(action="auth.session.expired")
    assert entry.payload == {"reason": "idle"}
    assert entry.actor_id == user.public_id


def test_active_session_ends_at_twelve_hours():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        client = verified_client(user)
        for _ in range(71):  # every 10 minutes up to 11:50
            clock.shift(timedelta(minutes=10))
            assert client.get(SECURITY).status_code == 200, "still active"
        clock.shift(timedelta(minutes=10))
        response = client.get(SECURITY)
    assert response["Location"].startswith(LOGIN)
    assert AuditEntry.objects.get(action="auth.session.expired").payload == {"reason": "absolute"}


def test_session_cookie_flags():
    assert django_settings.SESSION_COOKIE_HTTPONLY
    assert django_settings.SESSION_COOKIE_SAMESITE == "Lax"
    response = Client().post(LOGIN, {"email": UserFactory().email, "password": TEST_PASSWORD})
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def _change_password(client: Client, new: str):
    return client.post(
        reverse("accounts:password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": new, "new_password2": new},
    )


def test_password_change_ends_every_other_session_but_this_one():
    user = UserFactory()
    other = verified_client(user)
    other_key = other.session.session_key
    current = verified_client(user)

    response = _change_password(current, "a brand new passphrase 9")

    assert response.status_code == 302
    assert current.get(SECURITY).status_code == 200
    assert other.get(SECURITY)["Location"].startswith(LOGIN)
    assert not Session.objects.filter(session_key=other_key).exists()
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase 9")
    assert AuditEntry.objects.filter(action="auth.password.changed").exists()


def test_password_change_applies_the_validators():
    user = UserFactory()
    client = verified_client(user)
    response = _change_password(client, "short1")
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)


def test_password_change_requires_step_up():
    user = UserFactory()
    client = verified_client(user)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        response = client.get(reverse("accounts:password_change"))
    assert response["Location"].startswith(reverse("accounts:step_up"))


def test_every_post_form_in_account_templates_has_a_csrf_token():
    templates = Path(django_settings.BASE_DIR, "templates", "accounts").rglob("*.html")
    checked = 0
    for template in templates:
        text = template.read_text()
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", text, flags=re.S):
            assert "{% csrf_token %}" in form, template.name
            checked += 1
    assert checked >= 10


def test_account_templates_have_no_inline_styles_or_scripts():
    for template in Path(django_settings.BASE_DIR, "templates", "accounts").rglob("*.html"):
        text = template.read_text()
        assert "style=" not in text, template.name
        assert "<script" not in text, template.name
        assert "<style" not in text, template.name


def test_switch_merchant_without_csrf_token_is_refused():
    user = UserFactory()
    client = verified_client(user, Client(enforce_csrf_checks=True))
    assert client.post(reverse("accounts:switch_merchant"), {"merchant": "x"}).status_code == 403
