"""django-axes wiring for PCI DSS 8.3.4: how usernames are counted and what a success resets.

Settings live in config/settings/base.py (Identity); this module holds the two hooks they name.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def normalize_email(value: object) -> str:
    """Emails are stored lower-case; counting them the same way stops case-variant evasion."""
    return str(value or "").strip().lower()


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """AXES_USERNAME_CALLABLE: the normalized email from the credentials or the POST body."""
    field = get_user_model().USERNAME_FIELD
    if credentials is not None:
        return normalize_email(credentials.get(field) or credentials.get("username"))
    data = getattr(request, "data", None) or request.POST
    return normalize_email(data.get(field) or data.get("username"))


# django-axes ships no type hints: its classes are Any to mypy.
class UsernameResetHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """Axes' database handler with two corrections.

    A lockout lasts exactly the cool-off: axes counts attempts made at or after
    `now - cool-off`, which keeps a lock one instant past 30:00; here the window is half-open,
    matching axes' own clean-up, which drops attempts at exactly `now - cool-off`.

    A success forgives only that username's failures.
    Axes' stock reset deletes every attempt matching the username *or the IP address*, so an
    attacker who owns one account could clear the per-IP counter between rounds of credential
    stuffing by logging in to it. Here only the rows of the user who proved the password are
    removed; failures against other usernames from the same IP keep counting.
    """

    def get_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> list[QuerySet[AccessAttempt]]:
        threshold = get_cool_off_threshold(request)
        return [
            attempts.filter(attempt_time__gt=threshold)
            for attempts in self.filter_user_attempts(request, credentials)
        ]

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        username = lockout_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return int(count)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the same page for known and unknown emails, without echoing one."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    context = {"cooloff_minutes": seconds // 60, "failure_limit": settings.AXES_FAILURE_LIMIT}
    response = render(request, "accounts/locked_out.html", context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
