"""The dashboard's permission gate: the permissions pages need, and the decorator that checks one.

Every app's dashboard views declare what they need with `require_permission`; it lives here,
below every app, so that `compliance` (which imports no app) guards its pages the same way as
`payments` or `banking`. Which role grants which permission is decided in one place,
`accounts/roles.py`; this module only asks the current member (`request.membership`, set by
`accounts.middleware.CurrentMerchantMiddleware`) through the `Member` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])


class Permission(models.TextChoices):
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_PAYMENTS = "view_payments"
    EXPORT_PAYMENTS = "export_payments"
    CREATE_PAYMENTS = "create_payments"
    MANAGE_PAYMENTS = "manage_payments"  # capture, cancel
    REFUND_PAYMENTS = "refund_payments"
    # Submit dispute evidence or accept a dispute's loss (owners and admins).
    MANAGE_DISPUTES = "manage_disputes"
    MANAGE_PAYOUTS = "manage_payouts"  # the payout schedule (owners and admins)
    MANAGE_PAYMENT_LINKS = "manage_payment_links"
    VIEW_CUSTOMERS = "view_customers"
    MANAGE_CUSTOMERS = "manage_customers"
    MANAGE_BANK_ACCOUNTS = "manage_bank_accounts"
    VIEW_DEVELOPERS = "view_developers"
    MANAGE_API_KEYS = "manage_api_keys"
    VIEW_TEAM = "view_team"
    MANAGE_TEAM = "manage_team"
    VIEW_COMPLIANCE = "view_compliance"
    MANAGE_DATA_REQUESTS = "manage_data_requests"
    MANAGE_PROCESSORS = "manage_processors"  # connect processors, choose routing (/settings/)


class Member(Protocol):
    """The current merchant membership as the gate sees it (`accounts.models.Membership`)."""

    def has_permission(self, permission: str) -> bool: ...


class PermissionMissing(PermissionDenied):
    """The current role lacks `permission`; the 403 page names the roles that have it."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"Your role does not include {permission}.")
        self.permission = permission


def require_permission(permission: str) -> Callable[[ViewFunc], ViewFunc]:
    """Needs a current merchant whose membership grants `permission` (403 otherwise).

    A signed-in user with no merchant at all is sent to `settings.NO_MERCHANT_URL`.
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            member: Member | None = getattr(request, "membership", None)
            if member is None:
                return HttpResponseRedirect(resolve_url(settings.NO_MERCHANT_URL))
            if not member.has_permission(permission):
                raise PermissionMissing(permission)
            response: HttpResponseBase = view(request, *args, **kwargs)
            return response

        return wrapped  # type: ignore[return-value]

    return decorator
