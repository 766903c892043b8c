"""Template context for the dashboard shell: merchant switcher and sandbox banner."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.models import Membership


def dashboard(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    memberships: list[Membership] = []
    loaded: list[Membership] | None = getattr(request, "memberships", None)
    if loaded is not None and request.method in ("GET", "HEAD"):
        # CurrentMerchantMiddleware loaded them for this request, and a safe request changes
        # no memberships; a POST that renders (a form error) may have, so it asks again.
        memberships = loaded
    elif user is not None and user.is_authenticated:
        memberships = list(
            Membership.objects.filter(user=user)
            .select_related("merchant")
            .order_by("merchant__legal_name")
        )
    return {
        "current_merchant": getattr(request, "merchant", None),
        "current_membership": getattr(request, "membership", None),
        "memberships": memberships,
        "processor_sandbox": bool(settings.STRIPE_API_BASE),
    }
