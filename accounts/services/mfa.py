"""Second factors: OTP checks (login and step-up), TOTP enrolment, backup codes, reset."""

from __future__ import annotations

from dataclasses import dataclass, field

import django_otp
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import backup_codes, session_security
from accounts.decorators import ensure_step_up
from accounts.models import (
    BackupCodeDevice,
    User,
)
from accounts.services.enrolment import enrolment_link_create, granted_link_lock
from accounts.services.users import acting_user, user_audit
from compliance.actors import Actor

PENDING_DEVICE_NAME = "Authenticator (not confirmed)"
BACKUP_DEVICE_NAME = "Backup codes"


@dataclass(frozen=True)
class OtpCheck:
    """The outcome of a one-time password check."""

    device: Device | None = None
    throttled: bool = False

    @property
    def ok(self) -> bool:
        return self.device is not None


@dataclass(frozen=True)
class Enrollment:
    confirmed: bool = False
    throttled: bool = False
    backup_codes: list[str] = field(default_factory=list)


def _mark_verified(request: HttpRequest, device: Device) -> None:
    django_otp.login(request, device)
    session_security.record_otp_verification(request)


def _audit_mfa_failure(request: HttpRequest, user: User, *, reason: str) -> None:
    user_audit(
        "mfa.failed",
        request=request,
        user=user,
        outcome="failure",
        payload={"reason": reason},
    )


def _candidate_devices(user: User, token: str) -> list[Device]:
    """Only the device kind the token's shape fits is tried, so each guess costs one try."""
    if token.isdigit():
        return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    if backup_codes.looks_like_backup_code(token):
        return list(BackupCodeDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    return []


def otp_verify(*, request: HttpRequest, token: str) -> OtpCheck:
    """Check a TOTP or backup code; on success the session is OTP-verified and rotated.

    Used both for the verification after login and for step-up. Each device throttles its
    own failures (django-otp's exponential back-off), so guessing is slow either way.
    """
    user = acting_user(request)
    token = token.strip()
    candidates = _candidate_devices(user, token)
    allowed = [device for device in candidates if device.verify_is_allowed()[0]]
    if candidates and not allowed:
        _audit_mfa_failure(request, user, reason="throttled")
        return OtpCheck(throttled=True)
    # One transaction: the spent code or throttle count and its audit entry commit together.
    with transaction.atomic():
        verified: Device | None = None
        for device in allowed:
            verified = django_otp.verify_token(user, device.persistent_id, token)
            if verified is not None:
                break
        if verified is None:
            _audit_mfa_failure(request, user, reason="invalid")
            return OtpCheck()
        is_backup = isinstance(verified, BackupCodeDevice)
        user_audit(
            "mfa.verified",
            request=request,
            user=user,
            payload={"method": "backup_code" if is_backup else "totp"},
        )
        if is_backup:
            user_audit(
                "mfa.backup_code.used",
                request=request,
                user=user,
                payload={"remaining": backup_codes.remaining_codes(device=verified)},
            )
    _mark_verified(request, verified)
    return OtpCheck(device=verified)


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device (created on first use), shown as a QR code.

    Reloading the enrollment page keeps the same secret, so a scan already made still works.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, confirmed=False, name=PENDING_DEVICE_NAME)
    return device


def _backup_codes_replace(*, user: User) -> list[str]:
    device, _ = BackupCodeDevice.objects.get_or_create(
        user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True}
    )
    return backup_codes.generate_codes(device=device)


def totp_device_confirm(*, request: HttpRequest, token: str, name: str) -> Enrollment:
    """Confirm the pending TOTP device with a code from the app.

    The first device also creates the 10 backup codes, returned here for the one time they
    are shown, and needs the enrolment link this session opened (spent here, in the same
    transaction). Adding a device to an account that already has one needs a fresh step-up.
    """
    user = acting_user(request)
    first = not django_otp.user_has_device(user, confirmed=True)
    if not first:
        ensure_step_up(request)
    codes: list[str] = []
    with transaction.atomic():
        link = granted_link_lock(request, user) if first else None
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            return Enrollment()
        if not device.verify_is_allowed()[0]:
            _audit_mfa_failure(request, user, reason="throttled")
            return Enrollment(throttled=True)
        if not device.verify_token(token.strip()):
            _audit_mfa_failure(request, user, reason="invalid")
            return Enrollment()
        device.confirmed = True
        device.name = name.strip()[:64] or "Authenticator app"
        device.save(update_fields=["confirmed", "name"])
        if link is not None:
            codes = _backup_codes_replace(user=user)
            link.used_at = timezone.now()
            link.save(update_fields=["used_at"])
        user_audit(
            "mfa.enrolled",
            request=request,
            user=user,
            payload={
                "method": "totp",
                "first_device": first,
                "enrolment_link": link.public_id if link else None,
            },
        )
    request.session.pop(session_security.ENROLMENT_LINK, None)
    _mark_verified(request, device)
    return Enrollment(confirmed=True, backup_codes=codes)


def backup_codes_regenerate(*, request: HttpRequest) -> list[str]:
    """New codes for the user; every earlier code stops working at once."""
    ensure_step_up(request)
    user = acting_user(request)
    with transaction.atomic():
        codes = _backup_codes_replace(user=user)
        user_audit(
            "mfa.backup_codes.regenerated",
            request=request,
            user=user,
            payload={"count": len(codes)},
        )
    return codes


def mfa_reset(*, request: HttpRequest) -> None:
    """Remove every second factor of the user; the session must enroll again to continue."""
    ensure_step_up(request)
    user = acting_user(request)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        BackupCodeDevice.objects.filter(user=user).delete()
        user_audit("mfa.reset", request=request, user=user)
        # The fresh OTP just proven binds the new enrolment to this session.
        issued = enrolment_link_create(
            user=user, issued_by=user, actor=Actor.for_user(user), via="mfa_reset", request=request
        )
    request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
    request.session.pop(session_security.OTP_VERIFIED_AT, None)
    request.session[session_security.ENROLMENT_LINK] = issued.link.public_id
