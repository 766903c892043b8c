"""A merchant's team: memberships locked together (owner counting must not race), role
changes and removals under the owner rules."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from accounts.exceptions import (
    InvalidRoleError,
    LastOwnerError,
    MemberNotFoundError,
    TeamPermissionError,
)
from accounts.models import (
    Membership,
    Merchant,
    User,
)
from accounts.roles import Permission, Role, role_allows
from compliance.actors import Actor
from compliance.services import audit_record


def team_lock(merchant: Merchant) -> list[Membership]:
    """Lock every membership of the merchant: owner counting must not race."""
    return list(
        Membership.objects.select_for_update(of=("self",))
        .filter(merchant=merchant)
        .select_related("user")
        .order_by("pk")
    )


def acting_membership(team: list[Membership], actor: User) -> Membership:
    for membership in team:
        if membership.user_id == actor.pk and role_allows(membership.role, Permission.MANAGE_TEAM):
            return membership
    raise TeamPermissionError()


def owner_required_for(acting: Membership, *roles: str) -> None:
    if Role.OWNER in roles and acting.role != Role.OWNER:
        raise TeamPermissionError("Only an owner may grant or remove the owner role.")


def _owner_count(team: list[Membership]) -> int:
    return sum(1 for membership in team if membership.role == Role.OWNER)


def role_validate(role: str) -> str:
    if role not in Role.values:
        raise InvalidRoleError(param="role")
    return role


def team_member(team: list[Membership], member_public_id: str) -> Membership:
    for membership in team:
        if membership.user.public_id == member_public_id:
            return membership
    raise MemberNotFoundError()


def membership_role_change(
    *,
    actor: User,
    merchant: Merchant,
    member_public_id: str,
    role: str,
    request: HttpRequest | None = None,
) -> Membership:
    role_validate(role)
    with transaction.atomic():
        team = team_lock(merchant)
        acting = acting_membership(team, actor)
        target = team_member(team, member_public_id)
        owner_required_for(acting, target.role, role)
        if target.role == role:
            return target
        if target.role == Role.OWNER and _owner_count(team) <= 1:
            raise LastOwnerError()
        previous = target.role
        target.role = role
        target.save(update_fields=["role"])
        audit_record(
            action="team.role.changed",
            request=request,
            actor=Actor.for_user(actor),
            merchant_id=merchant.public_id,
            target_type="user",
            target_id=member_public_id,
            payload={"from": previous, "to": role},
        )
    return target


def membership_remove(
    *,
    actor: User,
    merchant: Merchant,
    member_public_id: str,
    request: HttpRequest | None = None,
) -> None:
    with transaction.atomic():
        team = team_lock(merchant)
        acting = acting_membership(team, actor)
        target = team_member(team, member_public_id)
        owner_required_for(acting, target.role)
        if target.role == Role.OWNER and _owner_count(team) <= 1:
            raise LastOwnerError()
        role = target.role
        target.delete()
        audit_record(
            action="team.member.removed",
            request=request,
            actor=Actor.for_user(actor),
            merchant_id=merchant.public_id,
            target_type="user",
            target_id=member_public_id,
            payload={"role": role},
        )
