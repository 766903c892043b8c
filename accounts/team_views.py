"""The team page: members and pending invitations of the current merchant, and changes to them.

Reading needs VIEW_TEAM; every change needs MANAGE_TEAM and a fresh step-up OTP. The rules
themselves (owner-only owner role, last owner) live in accounts.services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.decorators import step_up_required
from accounts.forms import InviteForm, RoleChangeForm
from accounts.models import Membership, User
from accounts.roles import Role, role_allows
from accounts.views import no_store
from config.exceptions import ApplicationError, NotFoundError
from config.permissions import Permission, require_permission


def _context(request: HttpRequest, invite_form: InviteForm | None = None) -> dict[str, Any]:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    can_manage = role_allows(membership.role, Permission.MANAGE_TEAM)
    is_owner = membership.role == Role.OWNER
    members = selectors.team_member_list(merchant=membership.merchant)
    return {
        "nav": "team",
        "members": members,
        "invitations": selectors.invitation_pending_list(merchant=membership.merchant),
        "can_manage": can_manage,
        "is_owner": is_owner,
        "owner_count": sum(1 for m in members if m.role == Role.OWNER),
        "unenrolled": selectors.users_without_authenticator(user_ids=[m.user_id for m in members]),
        "roles": [c for c in Role.choices if is_owner or c[0] != Role.OWNER],
        "invite_form": invite_form or InviteForm(allow_owner=is_owner),
    }


@require_permission(Permission.VIEW_TEAM)
def team_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/team.html", _context(request))


@require_POST
@require_permission(Permission.MANAGE_TEAM)
@step_up_required
def team_invite(request: HttpRequest) -> HttpResponse:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    user: User = request.user  # type: ignore[assignment]
    form = InviteForm(request.POST, allow_owner=membership.role == Role.OWNER)
    if not form.is_valid():
        return render(request, "accounts/team.html", _context(request, form), status=400)
    try:
        created = services.membership_invite(
            actor=user,
            merchant=membership.merchant,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            request=request,
        )
    except ApplicationError as error:
        form.add_error(None, error.message)
        return render(
            request, "accounts/team.html", _context(request, form), status=error.status_code
        )
    accept_url = request.build_absolute_uri(reverse("accounts:invite_accept", args=[created.token]))
    services.invitation_email_send(invitation=created.invitation, accept_url=accept_url)
    context = {"nav": "team", "invitation": created.invitation, "accept_url": accept_url}
    return no_store(render(request, "accounts/invite_created.html", context))


def _apply(request: HttpRequest, action: Any, success: str, **kwargs: Any) -> HttpResponse:
    membership: Membership = request.membership  # type: ignore[attr-defined]
    try:
        action(actor=request.user, merchant=membership.merchant, request=request, **kwargs)
    except NotFoundError as error:
        # Another merchant's member or invitation is indistinguishable from a missing one.
        raise Http404(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return redirect("team:list")


@require_POST
@require_permission(Permission.MANAGE_TEAM)
@step_up_required
def team_role_change(request: HttpRequest, member_id: str) -> HttpResponse:
    form = RoleChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed roles.")
        return redirect("team:list")
    return _apply(
        request,
        services.membership_role_change,
        "Role changed.",
        member_public_id=member_id,
        role=form.cleaned_data["role"],
    )


@require_POST
@require_permission(Permission.MANAGE_TEAM)
@step_up_required
def team_member_remove(request: HttpRequest, member_id: str) -> HttpResponse:
    return _apply(
        request, services.membership_remove, "Member removed.", member_public_id=member_id
    )


@require_POST
@require_permission(Permission.MANAGE_TEAM)
@step_up_required
def team_invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    return _apply(
        request,
        services.invitation_revoke,
        "Invitation revoked.",
        invitation_public_id=invitation_id,
    )


@require_POST
@require_permission(Permission.MANAGE_TEAM)
@step_up_required
def team_enrolment_link(request: HttpRequest, member_id: str) -> HttpResponse:
    """A one-time link for a member who has no authenticator yet, shown here once."""
    membership: Membership = request.membership  # type: ignore[attr-defined]
    try:
        issued = services.enrolment_link_issue_for_member(
            actor=request.user,  # type: ignore[arg-type]
            merchant=membership.merchant,
            member_public_id=member_id,
            request=request,
        )
    except NotFoundError as error:
        raise Http404(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("team:list")
    url = request.build_absolute_uri(reverse("accounts:enrolment_link", args=[issued.token]))
    context = {"nav": "team", "link": issued.link, "enrolment_url": url}
    return no_store(render(request, "accounts/enrolment_link_created.html", context))
