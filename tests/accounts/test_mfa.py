"""MFA: TOTP enrollment with a server-rendered QR, verification, backup codes, throttling."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.backup_codes import BACKUP_CODE_COUNT, normalize_code
from accounts.models import BackupCode, BackupCodeDevice
from compliance.models import AuditEntry
from tests.factories import (
    TOTPDeviceFactory,
    UserFactory,
    login_password_only,
    open_enrolment_link,
    totp_now,
    verified_client,
)

pytestmark = pytest.mark.django_db
ENROLL = reverse("accounts:mfa_enroll")
VERIFY = reverse("accounts:mfa_verify")
START = timezone.now().replace(microsecond=0)


def _enroll(client: Client, user) -> list[str]:
    """Open an enrolment link, run the enrollment page to the end; returns the backup codes."""
    open_enrolment_link(user, client)
    page = client.get(ENROLL)
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(ENROLL, {"token": totp_now(device), "name": "Phone"})
    assert response.status_code == 200
    return re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", response.content.decode())


def test_dashboard_sends_a_user_without_device_to_enrollment():
    client = login_password_only(UserFactory())
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(ENROLL)


def test_enrollment_page_has_inline_svg_qr_and_secret_without_inline_script_or_style():
    user = UserFactory()
    client = login_password_only(user)
    open_enrolment_link(user, client)
    response = client.get(ENROLL)
    body = response.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert '<svg role="img"' in body
    assert "<script" not in body.split("</svg>")[0].split("<svg")[1]
    assert " style=" not in body
    assert "<script>" not in body
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body)
    assert secret is not None
    import base64

    assert base64.b32decode(secret.group(1).replace(" ", "")) == device.bin_key
    assert 'autocomplete="one-time-code"' in body
    assert response["Cache-Control"].startswith("no-store")


def test_enrollment_confirms_device_shows_ten_codes_once_and_verifies_session():
    user = UserFactory()
    client = login_password_only(user)
    key_before = client.session.session_key

    codes = _enroll(client, user)

    assert len(codes) == BACKUP_CODE_COUNT == len(set(codes))
    assert TOTPDevice.objects.get(user=user).confirmed
    assert client.session.session_key != key_before
    assert client.get(reverse("accounts:security")).status_code == 200
    assert AuditEntry.objects.filter(action="mfa.enrolled", actor_id=user.public_id).exists()
    # Shown once: nothing the user can reach shows them again.
    assert codes[0] not in client.get(reverse("accounts:security")).content.decode()


def test_backup_codes_are_stored_hashed_only():
    user = UserFactory()
    codes = _enroll(login_password_only(user), user)
    stored = list(BackupCode.objects.filter(device__user=user).values_list("code_hash", flat=True))
    assert len(stored) == BACKUP_CODE_COUNT
    for code in codes:
        plain = normalize_code(code)
        assert all(plain not in value and code not in value for value in stored)
        assert all(len(value) == 64 for value in stored)


def test_wrong_enrollment_code_is_refused_and_throttled():
    user = UserFactory()
    client = login_password_only(user)
    open_enrolment_link(user, client)
    client.get(ENROLL)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    with time_machine.travel(START, tick=False):
        bad = "000000" if totp_now(device) != "000000" else "111111"
        response = client.post(ENROLL, {"token": bad})
        assert "not valid" in response.content.decode()
        # Right code at once after a failure: still refused by the back-off.
        response = client.post(ENROLL, {"token": totp_now(device)})
        assert "Too many wrong codes" in response.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed


def test_verification_with_totp_rotates_session_and_follows_next():
    user = UserFactory()
    device = TOTPDeviceFactory(user=user)
    client = login_password_only(user)
    key_before = client.session.session_key

    response = client.post(VERIFY, {"token": totp_now(device), "next": "/team/"})

    assert response.status_code == 302
    assert response["Location"] == "/team/"
    assert client.session.session_key != key_before
    assert AuditEntry.objects.filter(action="mfa.verified", actor_id=user.public_id).exists()


def test_verification_ignores_offsite_next():
    user = UserFactory()
    device = TOTPDeviceFactory(user=user)
    client = login_password_only(user)
    response = client.post(VERIFY, {"token": totp_now(device), "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_totp_attempts_are_throttled_exponentially():
    user = UserFactory()
    device = TOTPDeviceFactory(user=user)
    client = login_password_only(user)
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            client.post(VERIFY, {"token": "000000" if totp_now(device) != "000000" else "111111"})
            clock.shift(timedelta(seconds=0.1))
        # Three failures: the next attempt must wait 4 seconds, even with the right code.
        response = client.post(VERIFY, {"token": totp_now(device)})
        assert "Too many wrong codes" in response.content.decode()
        assert AuditEntry.objects.filter(action="mfa.failed", payload__reason="throttled").exists()
        clock.shift(timedelta(seconds=5))
        response = client.post(VERIFY, {"token": totp_now(device)})
    assert response.status_code == 302


def test_wrong_code_is_audited_as_failure():
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    client = login_password_only(user)
    client.post(VERIFY, {"token": "12345"})
    entry = AuditEntry.objects.get(action="mfa.failed")
    assert entry.outcome == "failure"
    assert "12345" not in str(entry.payload)


def test_backup_code_works_once():
    user = UserFactory()
    codes = _enroll(login_password_only(user), user)

    first = login_password_only(user)
    response = first.post(VERIFY, {"token": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    used = AuditEntry.objects.get(action="mfa.backup_code.used")
    assert used.payload["remaining"] == BACKUP_CODE_COUNT - 1

    second = login_password_only(user)
    response = second.post(VERIFY, {"token": codes[3]})
    assert response.status_code == 200
    assert "not valid" in response.content.decode()


def test_backup_codes_are_throttled_too():
    user = UserFactory()
    codes = _enroll(login_password_only(user), user)
    client = login_password_only(user)
    with time_machine.travel(START, tick=False):
        client.post(VERIFY, {"token": "aaaaa-aaaaa"})
        response = client.post(VERIFY, {"token": codes[0]})
    assert "Too many wrong codes" in response.content.decode()
    assert BackupCodeDevice.objects.get(user=user).throttling_failure_count == 1


def test_one_users_backup_code_does_not_verify_another_user():
    alice, bob = UserFactory(), UserFactory()
    codes = _enroll(login_password_only(alice), alice)
    _enroll(login_password_only(bob), bob)
    response = login_password_only(bob).post(VERIFY, {"token": codes[0]})
    assert response.status_code == 200


def test_regenerating_backup_codes_needs_step_up_and_invalidates_old_ones():
    user = UserFactory()
    enroll_client = login_password_only(user)
    old = _enroll(enroll_client, user)
    url = reverse("accounts:backup_codes")

    with time_machine.travel(timezone.now() + timedelta(minutes=6)) as clock:
        stale = enroll_client.post(url, HTTP_REFERER="http://testserver/accounts/security/")
        assert stale.status_code == 302
        assert stale["Location"].startswith(reverse("accounts:step_up"))

        fresh = verified_client(user)
        response = fresh.post(url)
        new = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", response.content.decode())
        assert len(new) == BACKUP_CODE_COUNT
        assert not set(new) & set(old)
        assert BackupCode.objects.filter(device__user=user).count() == BACKUP_CODE_COUNT
        assert login_password_only(user).post(VERIFY, {"token": old[0]}).status_code == 200
        clock.shift(timedelta(seconds=2))  # past the back-off of that failure
        assert login_password_only(user).post(VERIFY, {"token": new[0]}).status_code == 302
    assert AuditEntry.objects.filter(action="mfa.backup_codes.regenerated").exists()


def test_second_device_enrollment_requires_step_up():
    user = UserFactory()
    client = verified_client(user)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = client.get(ENROLL)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:step_up"))
        fresh = verified_client(user)
        assert fresh.get(ENROLL).status_code == 200
        pending = TOTPDevice.objects.get(user=user, confirmed=False)
        response = fresh.post(ENROLL, {"token": totp_now(pending), "name": "Tablet"})
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 2


def test_password_only_session_cannot_add_a_second_device():
    user = UserFactory()
    TOTPDeviceFactory(user=user)
    response = login_password_only(user).get(ENROLL)
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)


def test_mfa_reset_needs_step_up_and_sends_to_enrollment():
    user = UserFactory()
    codes_client = login_password_only(user)
    _enroll(codes_client, user)
    url = reverse("accounts:mfa_reset")
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert codes_client.post(url)["Location"].startswith(reverse("accounts:step_up"))
        client = verified_client(user)
        response = client.post(url)
    assert response["Location"] == ENROLL
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not BackupCodeDevice.objects.filter(user=user).exists()
    assert client.get(reverse("home"))["Location"].startswith(ENROLL)
    # The OTP proven for the reset lets this session (and no other) enrol again.
    assert "<svg" in client.get(ENROLL).content.decode()
    assert login_password_only(user).get(ENROLL).status_code == 403
