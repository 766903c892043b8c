"""Default-deny for the dashboard, session lifetimes, and the current merchant of a request.

Every view is closed unless it says otherwise: a view needs a logged-in user (Django's
`login_not_required` opens it) whose session has proved an OTP (`otp_not_required` opens that
part). The admin (OTPAdminSite) and the API (API keys) authenticate on their own terms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import session_security
from accounts.models import Membership

logger = logging.getLogger(__name__)


def _is_api_view(view_func: Callable[..., Any]) -> bool:
    from rest_framework.views import APIView

    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def _has_confirmed_device(user: Any) -> bool:
    from django_otp import user_has_device

    return bool(user_has_device(user, confirmed=True))


class VerifiedSessionRequiredMiddleware(LoginRequiredMiddleware):
    """Login required everywhere (Django's middleware), then an OTP-verified session."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        if _is_api_view(view_func):
            return None
        match = request.resolver_match
        if match is not None and "admin" in match.namespaces:
            return None
        if not getattr(view_func, "login_required", True):
            return None
        if not request.user.is_authenticated:
            return self.handle_no_permission(request, view_func)
        if not getattr(view_func, "otp_required", True):
            return None
        if session_security.is_verified(request):
            return None
        target = (
            "accounts:mfa_verify" if _has_confirmed_device(request.user) else "accounts:mfa_enroll"
        )
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse(target)}?{query}")


class SessionLifetimeMiddleware:
    """Ends sessions idle for 15 minutes or older than 12 hours (PCI DSS 8.2.8)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            reason = session_security.session_expiry_reason(request)
            if reason is not None:
                from accounts.services import session_expired

                session_expired(request=request, reason=reason)
                logout(request)
            else:
                session_security.touch(request)
        return self.get_response(request)


def _memberships(request: HttpRequest) -> list[Membership]:
    """All of the user's memberships, in the merchant switcher's order (one query)."""
    user = request.user
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user=user)
        .select_related("merchant")
        .order_by("merchant__legal_name")
    )


def _current_membership(request: HttpRequest, memberships: list[Membership]) -> Membership | None:
    wanted = request.session.get(session_security.CURRENT_MERCHANT) if memberships else None
    if wanted:
        for membership in memberships:
            if membership.merchant.public_id == wanted:
                return membership
    # The oldest membership, as `order_by("created_at", "pk").first()` would choose.
    return min(memberships, key=lambda m: (m.created_at, m.pk), default=None)


class CurrentMerchantMiddleware:
    """Sets `request.membership` and `request.merchant` from the session's choice.

    The choice is only ever honoured through a membership, so a forged or stale merchant id
    falls back to one the user really belongs to.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        memberships = _memberships(request)
        membership = _current_membership(request, memberships)
        # Kept for the dashboard's merchant switcher (accounts.context_processors), which
        # would otherwise load the same rows again on every page.
        request.memberships = memberships  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        request.merchant = membership.merchant if membership else None  # type: ignore[attr-defined]
        return self.get_response(request)
