"""Credential stuffing (PCI DSS 8.3.4): django-axes locks a username and, separately, an IP."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEntry
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = reverse("accounts:login")
START = timezone.now().replace(microsecond=0)
WRONG = "wrong password 123"


def _attempt(email: str, password: str = WRONG, **meta: str):
    meta.setdefault("REMOTE_ADDR", "198.51.100.7")
    return Client().post(LOGIN, {"email": email, "password": password}, **meta)


def _fail(times: int, email: str, **meta: str) -> None:
    """`times` wrong passwords; all but a tenth are plain form errors."""
    for n in range(times):
        assert _attempt(email, **meta).status_code == (429 if n == 9 else 200)


def test_username_locked_after_ten_failures_for_thirty_minutes():
    user = UserFactory()
    with time_machine.travel(START, tick=False) as clock:
        # Ten different IPs: only the username counter can trip.
        for n in range(9):
            assert _attempt(user.email, REMOTE_ADDR=f"203.0.113.{n}").status_code == 200
        assert _attempt(user.email, REMOTE_ADDR="203.0.113.9").status_code == 429

        clock.shift(timedelta(minutes=29, seconds=59))
        locked = _attempt(user.email, TEST_PASSWORD, REMOTE_ADDR="192.0.2.1")
        assert locked.status_code == 429
        assert "_auth_user_id" not in locked.client.session

        clock.shift(timedelta(seconds=1))
        opened = _attempt(user.email, TEST_PASSWORD, REMOTE_ADDR="192.0.2.1")
    assert opened.status_code == 302
    assert opened["Location"].startswith(reverse("accounts:mfa_enroll"))


def test_nine_failures_do_not_lock():
    user = UserFactory()
    _fail(9, user.email)
    assert _attempt(user.email, TEST_PASSWORD).status_code == 302


def test_ip_locked_across_usernames_and_other_ips_are_not():
    victim = UserFactory()
    with time_machine.travel(START, tick=False):
        for n in range(10):
            _attempt(f"guess{n}@example.test", REMOTE_ADDR="198.51.100.66")
        blocked = _attempt(victim.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.66")
        elsewhere = _attempt(victim.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.67")
    assert blocked.status_code == 429
    assert elsewhere.status_code == 302


def test_case_variants_of_an_email_share_one_counter():
    user = UserFactory(email="dana@example.test")
    for n in range(10):
        variant = "".join(c.upper() if (i + n) % 2 else c for i, c in enumerate(user.email))
        _attempt(variant, REMOTE_ADDR=f"203.0.113.{n}")
    assert _attempt(user.email, TEST_PASSWORD, REMOTE_ADDR="192.0.2.9").status_code == 429


def test_forged_x_forwarded_for_does_not_evade_ip_lockout_without_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(10):
        _attempt(f"guess{n}@example.test", HTTP_X_FORWARDED_FOR=f"10.9.8.{n}")
    user = UserFactory()
    response = _attempt(user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="10.9.8.200")
    assert response.status_code == 429


def test_one_trusted_proxy_uses_the_address_it_appended(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(10):
        # The client forges the left part; our proxy appends the real address on the right.
        _attempt(f"guess{n}@example.test", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.50", **proxy)
    user = UserFactory()
    same_client = _attempt(
        user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.50", **proxy
    )
    other_client = _attempt(user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.51", **proxy)
    assert same_client.status_code == 429
    assert other_client.status_code == 302


def test_lockout_page_is_the_same_for_known_and_unknown_emails():
    user = UserFactory()
    _fail(10, user.email, REMOTE_ADDR="203.0.113.1")
    _fail(10, "ghost@example.test", REMOTE_ADDR="203.0.113.2")
    known = _attempt(user.email, REMOTE_ADDR="203.0.113.3")
    unknown = _attempt("ghost@example.test", REMOTE_ADDR="203.0.113.4")
    assert known.status_code == unknown.status_code == 429
    assert known.content == unknown.content
    assert user.email not in known.content.decode()
    assert known["Retry-After"] == str(30 * 60)
    assert "30 minutes" in known.content.decode()


def test_lockout_is_audited_without_the_email():
    user = UserFactory()
    _fail(10, user.email)
    entry = AuditEntry.objects.filter(action="auth.lockout").first()
    assert entry is not None
    assert entry.target_id == user.public_id
    assert "@" not in str(entry.payload)


def test_attacker_success_on_own_account_does_not_reset_the_ip_counter():
    attacker = UserFactory()
    for n in range(9):
        _attempt(f"victim{n}@example.test", REMOTE_ADDR="198.51.100.99")
    assert _attempt(attacker.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.99").status_code == 302
    _attempt("victim9@example.test", REMOTE_ADDR="198.51.100.99")
    assert _attempt(attacker.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.99").status_code == 429


def test_success_forgives_the_users_own_earlier_failures():
    user = UserFactory()
    _fail(9, user.email, REMOTE_ADDR="203.0.113.20")
    assert _attempt(user.email, TEST_PASSWORD, REMOTE_ADDR="203.0.113.20").status_code == 302
    _fail(9, user.email, REMOTE_ADDR="203.0.113.21")
    assert _attempt(user.email, TEST_PASSWORD, REMOTE_ADDR="203.0.113.21").status_code == 302
