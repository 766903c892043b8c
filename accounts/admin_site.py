"""The admin site: django-otp's OTPAdminSite whose login is the dashboard's own login.

One login path for everyone (lockout, audit, throttled OTP checks, the session clocks and,
for a first login, enrolment through an enrolment link) instead of the admin's separate
password-and-token form, which skipped the session clocks and dead-ended staff who had no
authenticator yet.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.admin import OTPAdminSite

from accounts.session_security import otp_verified_within


# django-otp ships no type hints: its classes are Any to mypy.
class LedgerlineAdminSite(OTPAdminSite):  # type: ignore[misc]
    @method_decorator(login_not_required)
    def login(self, request: HttpRequest, extra_context: object = None) -> HttpResponseRedirect:
        """Send to /accounts/login/, coming back to the admin page asked for (never off-site)."""
        index = reverse("admin:index", current_app=self.name)
        target = request.GET.get(REDIRECT_FIELD_NAME) or index
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = index
        query = urlencode({REDIRECT_FIELD_NAME: target})
        return HttpResponseRedirect(f"{reverse('accounts:login')}?{query}")

    def step_up_fresh(self, request: HttpRequest) -> bool:
        """Whether the session proved a one-time password within STEP_UP_MAX_AGE.

        Other apps' admin views ask the site, so they need no import of accounts (compliance's
        data-request actions: compliance may not import accounts)."""
        return otp_verified_within(request)

    def step_up_url(self, next_url: str) -> str:
        """The page that asks for a fresh one-time password and then returns to `next_url`."""
        return f"{reverse('accounts:step_up')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"
