"""View decorators for the dashboard: which views skip the OTP gate, and which need step-up.

Every dashboard view is closed by default (see `accounts.middleware`); these mark the few
exceptions and add the per-view requirements. The permission a page needs is declared with
`config.permissions.require_permission`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse

from accounts.session_security import otp_verified_within

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])


def otp_not_required(view: ViewFunc) -> ViewFunc:
    """For the MFA enrollment and verification views: a password-only session may reach them."""
    view.otp_required = False  # type: ignore[attr-defined]
    return view


def step_up_required(view: ViewFunc) -> ViewFunc:
    """Needs an OTP proven within STEP_UP_MAX_AGE; otherwise asks for one and comes back."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if otp_verified_within(request):
            response: HttpResponseBase = view(request, *args, **kwargs)
            return response
        if request.method not in ("GET", "HEAD"):
            # Never replay a POST after step-up: the user confirms the action again.
            target = request.headers.get("Referer") or request.path
        else:
            target = request.get_full_path()
        query = urlencode({"next": target})
        return HttpResponseRedirect(f"{reverse('accounts:step_up')}?{query}")

    return wrapped  # type: ignore[return-value]


def ensure_step_up(request: HttpRequest) -> None:
    """For services reached from views: raise PermissionDenied unless step-up is fresh."""
    if not otp_verified_within(request):
        raise PermissionDenied("A recent one-time password is required for this action.")
