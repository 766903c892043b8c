"""Invitations to a merchant's team: issued, e-mailed, revoked, accepted (by a signed-in user
or by a new one created on acceptance)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.exceptions import (
    AccountExistsError,
    AlreadyMemberError,
    InvitationEmailMismatchError,
    InvitationInvalidError,
)
from accounts.lockout import normalize_email
from accounts.models import (
    EnrolmentLink,
    Invitation,
    Membership,
    Merchant,
    User,
)
from accounts.selectors import invitation_token_hash
from accounts.services.enrolment import enrolment_link_create
from accounts.services.team import (
    acting_membership,
    owner_required_for,
    role_validate,
    team_lock,
)
from compliance.actors import Actor
from compliance.services import audit_record


@dataclass(frozen=True)
class CreatedInvitation:
    """A new invitation and its token: the only moment the token exists in clear."""

    invitation: Invitation
    token: str


def _revoke(
    invitation: Invitation, *, actor: User, request: HttpRequest | None, reason: str
) -> None:
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="team.invite.revoked",
        request=request,
        actor=Actor.for_user(actor),
        merchant_id=invitation.merchant.public_id,
        target_type="invitation",
        target_id=invitation.public_id,
        payload={"reason": reason},
    )


def membership_invite(
    *,
    actor: User,
    merchant: Merchant,
    email: str,
    role: str,
    request: HttpRequest | None = None,
) -> CreatedInvitation:
    """Invite `email` to join `merchant` as `role` through a single-use, expiring link."""
    role_validate(role)
    email = normalize_email(email)
    with transaction.atomic():
        team = team_lock(merchant)
        acting = acting_membership(team, actor)
        owner_required_for(acting, role)
        if any(membership.user.email.lower() == email for membership in team):
            raise AlreadyMemberError()
        # One live link per address: a new invitation supersedes any earlier one.
        for earlier in Invitation.objects.select_for_update().filter(
            merchant=merchant, email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ):
            _revoke(earlier, actor=actor, request=request, reason="superseded")
        token = secrets.token_urlsafe(32)
        now = timezone.now()
        invitation = Invitation.objects.create(
            merchant=merchant,
            email=email,
            role=role,
            token_hash=invitation_token_hash(token),
            invited_by=actor,
            created_at=now,
            expires_at=now + settings.INVITE_MAX_AGE,
        )
        audit_record(
            action="team.invite.created",
            request=request,
            actor=Actor.for_user(actor),
            merchant_id=merchant.public_id,
            target_type="invitation",
            target_id=invitation.public_id,
            payload={"role": role},
        )
    return CreatedInvitation(invitation=invitation, token=token)


def invitation_email_send(*, invitation: Invitation, accept_url: str) -> None:
    """Mail the link (the console backend in the embedded default, where no mail server runs)."""
    inviter = invitation.invited_by
    body = (
        f"{inviter.email if inviter else 'A team member'} invited you to join "
        f"{invitation.merchant.legal_name} on Ledgerline as {invitation.get_role_display()}.\n\n"
        f"Accept the invitation: {accept_url}\n\n"
        f"The link works once and expires at {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    send_mail(
        subject=f"Join {invitation.merchant.legal_name} on Ledgerline",
        message=body,
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_revoke(
    *,
    actor: User,
    merchant: Merchant,
    invitation_public_id: str,
    request: HttpRequest | None = None,
) -> None:
    with transaction.atomic():
        team = team_lock(merchant)
        acting = acting_membership(team, actor)
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("merchant")
            .filter(merchant=merchant, public_id=invitation_public_id)
            .first()
        )
        if invitation is None or not invitation.is_pending():
            raise InvitationInvalidError()
        owner_required_for(acting, invitation.role)
        _revoke(invitation, actor=actor, request=request, reason="revoked")


def _lock_pending_invitation(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None or not invitation.is_pending():
        raise InvitationInvalidError()
    return invitation


def _accept(invitation: Invitation, user: User, request: HttpRequest | None) -> Membership:
    if Membership.objects.filter(user=user, merchant=invitation.merchant).exists():
        raise AlreadyMemberError()
    membership = Membership.objects.create(
        user=user, merchant=invitation.merchant, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action="team.invite.accepted",
        request=request,
        actor=Actor.for_user(user),
        merchant_id=invitation.merchant.public_id,
        target_type="invitation",
        target_id=invitation.public_id,
        payload={"role": invitation.role, "user": user.public_id},
    )
    return membership


def invite_accept(*, token: str, user: User, request: HttpRequest | None = None) -> Membership:
    """An existing, logged-in user redeems an invitation sent to their own address."""
    with transaction.atomic():
        invitation = _lock_pending_invitation(token)
        if invitation.email != normalize_email(user.email):
            raise InvitationEmailMismatchError()
        return _accept(invitation, user, request)


@dataclass(frozen=True)
class NewMember:
    membership: Membership
    # Lets the session that redeemed the invitation set up the first authenticator.
    enrolment_link: EnrolmentLink


def invite_accept_new_user(
    *,
    token: str,
    password: str,
    full_name: str = "",
    request: HttpRequest | None = None,
) -> NewMember:
    """Create the invited person's account (password already validated) and its membership.

    The invitation link is what only the real person has, so it also grants the enrolment
    of their first authenticator: password and enrolment in one flow.
    """
    try:
        with transaction.atomic():
            invitation = _lock_pending_invitation(token)
            if User.objects.filter(email__iexact=invitation.email).exists():
                raise AccountExistsError()
            user = User.objects.create_user(
                email=invitation.email, password=password, full_name=full_name.strip()
            )
            membership = _accept(invitation, user, request)
            issued = enrolment_link_create(
                user=user,
                issued_by=invitation.invited_by,
                actor=Actor.for_user(user),
                via="invitation",
                request=request,
            )
            return NewMember(membership=membership, enrolment_link=issued.link)
    except IntegrityError as exc:
        # Two invitations to one address accepted at the same moment: the loser logs in.
        raise AccountExistsError() from exc
