"""Accounts reads: memberships, team pages, invitations and a user's second factors."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.backup_codes import remaining_codes
from accounts.hashing import keyed_hash
from accounts.models import (
    BackupCodeDevice,
    EnrolmentLink,
    Invitation,
    Membership,
    Merchant,
    User,
)
from accounts.roles import Role

_ROLE_ORDER = {role: index for index, role in enumerate(Role.values)}


def invitation_token_hash(token: str) -> str:
    return keyed_hash(purpose="invitation-token", value=token)


def enrolment_link_token_hash(token: str) -> str:
    return keyed_hash(purpose="enrolment-link-token", value=token)


def enrolment_link_get_pending(*, token: str) -> EnrolmentLink | None:
    """The enrolment link behind a token, if it can still be used; None says nothing more."""
    link = (
        EnrolmentLink.objects.select_related("user")
        .filter(token_hash=enrolment_link_token_hash(token))
        .first()
    )
    if link is None or not link.is_pending() or not link.user.is_active:
        return None
    return link


def users_without_authenticator(*, user_ids: list[int]) -> set[int]:
    enrolled = TOTPDevice.objects.filter(user_id__in=user_ids, confirmed=True).values_list(
        "user_id", flat=True
    )
    return set(user_ids) - set(enrolled)


def user_has_authenticator(*, user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("merchant")
        .order_by("merchant__legal_name")
    )


def membership_get(*, merchant: Merchant, user_public_id: str) -> Membership | None:
    """A member of `merchant` only: another merchant's member is simply not found."""
    return (
        Membership.objects.select_related("user")
        .filter(merchant=merchant, user__public_id=user_public_id)
        .first()
    )


def team_member_list(*, merchant: Merchant) -> list[Membership]:
    members = Membership.objects.filter(merchant=merchant).select_related("user")
    return sorted(members, key=lambda m: (_ROLE_ORDER.get(m.role, 99), m.user.email))


def invitation_pending_list(*, merchant: Merchant) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        merchant=merchant,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).order_by("-created_at")


def invitation_get_pending(*, token: str) -> Invitation | None:
    """The invitation behind a link, if it can still be accepted; None says nothing more."""
    invitation = (
        Invitation.objects.select_related("merchant")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None or not invitation.is_pending():
        return None
    return invitation


def user_exists(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email).exists()


def totp_device_list(*, user: User) -> QuerySet[TOTPDevice]:
    devices: QuerySet[TOTPDevice] = TOTPDevice.objects.filter(user=user, confirmed=True)
    return devices.order_by("created_at", "pk")


def backup_codes_remaining(*, user: User) -> int:
    device = BackupCodeDevice.objects.filter(user=user).first()
    return remaining_codes(device=device) if device else 0
