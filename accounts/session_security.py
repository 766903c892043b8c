"""Session facts that security decisions rest on: when the password and the OTP were checked."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

AUTHENTICATED_AT = "ll_authenticated_at"
LAST_SEEN_AT = "ll_last_seen_at"
OTP_VERIFIED_AT = "ll_otp_verified_at"
CURRENT_MERCHANT = "ll_current_merchant"
# The enrolment link (public id) this session proved, which lets it set up a first device.
ENROLMENT_LINK = "ll_enrolment_link"


def _read(request: HttpRequest, key: str) -> datetime | None:
    raw = request.session.get(key)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return None


def record_authentication(request: HttpRequest) -> None:
    """Call right after `login()`: starts the absolute and idle clocks."""
    now = timezone.now().isoformat()
    request.session[AUTHENTICATED_AT] = now
    request.session[LAST_SEEN_AT] = now


def record_otp_verification(request: HttpRequest) -> None:
    """Call right after `django_otp.login()`: rotates the session key and starts step-up."""
    request.session.cycle_key()
    request.session[OTP_VERIFIED_AT] = timezone.now().isoformat()


def is_verified(request: HttpRequest) -> bool:
    """True when django-otp's middleware found an OTP device proven in this session."""
    return bool(getattr(request.user, "is_verified", lambda: False)())


def otp_verified_within(request: HttpRequest, max_age: timedelta | None = None) -> bool:
    """True when the session proved an OTP within `max_age` (the step-up window)."""
    if not is_verified(request):
        return False
    verified_at = _read(request, OTP_VERIFIED_AT)
    if verified_at is None:
        return False
    return timezone.now() - verified_at <= (max_age or settings.STEP_UP_MAX_AGE)


def session_expiry_reason(request: HttpRequest) -> str | None:
    """'idle' or 'absolute' when the authenticated session must end now, else None."""
    now = timezone.now()
    authenticated_at = _read(request, AUTHENTICATED_AT)
    last_seen_at = _read(request, LAST_SEEN_AT)
    if authenticated_at is None or last_seen_at is None:
        return "absolute"
    if now - authenticated_at >= settings.SESSION_ABSOLUTE_TIMEOUT:
        return "absolute"
    if now - last_seen_at >= settings.SESSION_IDLE_TIMEOUT:
        return "idle"
    return None


def touch(request: HttpRequest) -> None:
    """Slide the idle window, writing the session at most once a minute."""
    last_seen_at = _read(request, LAST_SEEN_AT)
    now = timezone.now()
    if last_seen_at is None or now - last_seen_at >= timedelta(minutes=1):
        request.session[LAST_SEEN_AT] = now.isoformat()
