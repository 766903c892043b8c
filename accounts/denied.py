"""The 403 page of the dashboard: what the page needs, and who on the team can grant it.

Wired as `handler403` in config/urls.py. A refusal by `require_permission` carries the
permission, so the page names the roles that include it and the merchant's members who may
change roles (owners and admins, by name); any other refusal gets the general page.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Membership
from accounts.roles import roles_allowing
from config.permissions import Permission, PermissionMissing


def _member_name(membership: Membership) -> str:
    return membership.user.full_name or membership.user.email


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context: dict[str, object] = {"nav": ""}
    membership = getattr(request, "membership", None)
    if isinstance(exception, PermissionMissing) and membership is not None:
        granting = roles_allowing(Permission.MANAGE_TEAM)
        granters = (
            Membership.objects.filter(merchant=membership.merchant, role__in=granting)
            .select_related("user")
            .order_by("role", "user__full_name", "user__email")
        )
        context.update(
            needed_roles=[role.label for role in roles_allowing(exception.permission)],
            current_role=membership.get_role_display(),
            granting_roles=[role.label for role in granting],
            granters=[
                {"name": _member_name(m), "role": m.get_role_display()}
                for m in granters
                if m.pk != membership.pk
            ],
        )
    return render(request, "403.html", context, status=403)
