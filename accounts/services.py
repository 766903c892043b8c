"""Accounts writes: session ends, MFA and enrolment links, merchant switching, team,
invitations and API keys.

Every security-relevant change writes its audit entry inside the same transaction as the
change. Audit payloads carry pseudonymous public ids and roles only: never an email address,
a password, a one-time code, an invitation or enrolment token or an API key secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import django_otp
from django.conf import settings
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import backup_codes, session_security
from accounts.api_keys import PREFIX_LENGTH, SECRET_PREFIX, generate_secret, hash_secret
from accounts.decorators import ensure_step_up
from accounts.exceptions import (
    AccountExistsError,
    AlreadyMemberError,
    EnrolmentLinkInvalidError,
    EnrolmentLinkRefusedError,
    EnrolmentLinkRequiredError,
    InvalidRoleError,
    InvitationEmailMismatchError,
    InvitationInvalidError,
    LastOwnerError,
    MemberNotFoundError,
    MerchantNotFoundError,
    TeamPermissionError,
)
from accounts.lockout import normalize_email
from accounts.models import (
    ApiKey,
    BackupCodeDevice,
    EnrolmentLink,
    Invitation,
    Membership,
    Merchant,
    User,
)
from accounts.roles import ROLE_PERMISSIONS, Role, role_allows
from accounts.selectors import (
    enrolment_link_token_hash,
    invitation_token_hash,
    user_has_authenticator,
)
from compliance.actors import Actor
from compliance.services import audit_record
from config.exceptions import ApplicationError
from config.permissions import Permission

PENDING_DEVICE_NAME = "Authenticator (not confirmed)"
BACKUP_DEVICE_NAME = "Backup codes"
API_KEY_NAME_MAX_LENGTH = 100  # ApiKey.name's max_length


def _user_of(request: HttpRequest) -> User:
    user = request.user
    if not user.is_authenticated:
        raise TeamPermissionError("You must be logged in.")
    return user


def _audit_user(
    action: str,
    *,
    request: HttpRequest,
    user: Any,
    outcome: str = "success",
    payload: dict[str, Any] | None = None,
) -> None:
    """An entry about the acting user's own account (login, MFA, session, password)."""
    audit_record(
        action=action,
        request=request,
        actor=Actor.for_user(user),
        target_type="user",
        target_id=user.public_id,
        outcome=outcome,
        payload=payload,
    )


# --- Sessions ---------------------------------------------------------------------------------


def session_expired(*, request: HttpRequest, reason: str) -> None:
    """Called by SessionLifetimeMiddleware before it logs the user out ('idle' / 'absolute')."""
    user = _user_of(request)
    _audit_user(
        "auth.session.expired",
        request=request,
        user=user,
        payload={"reason": reason},
    )


def user_logout(*, request: HttpRequest) -> None:
    user = request.user
    if user.is_authenticated:
        _audit_user("auth.logout", request=request, user=user)
    logout(request)


def password_change(*, request: HttpRequest, form: PasswordChangeForm) -> User:
    """Save the new password; every other session of the user ends.

    Django stores a hash derived from the password hash in each session and flushes any
    session whose stored hash no longer matches, so all other sessions are dead from their
    next request on. `update_session_auth_hash` re-signs (and rotates) only this one.
    """
    ensure_step_up(request)
    with transaction.atomic():
        user: User = form.save()
        _audit_user("auth.password.changed", request=request, user=user)
    update_session_auth_hash(request, user)
    return user


# --- MFA --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtpCheck:
    """The outcome of a one-time password check."""

    device: Device | None = None
    throttled: bool = False

    @property
    def ok(self) -> bool:
        return self.device is not None


@dataclass(frozen=True)
class Enrollment:
    confirmed: bool = False
    throttled: bool = False
    backup_codes: list[str] = field(default_factory=list)


def _mark_verified(request: HttpRequest, device: Device) -> None:
    django_otp.login(request, device)
    session_security.record_otp_verification(request)


def _audit_mfa_failure(request: HttpRequest, user: User, *, reason: str) -> None:
    _audit_user(
        "mfa.failed",
        request=request,
        user=user,
        outcome="failure",
        payload={"reason": reason},
    )


def _candidate_devices(user: User, token: str) -> list[Device]:
    """Only the device kind the token's shape fits is tried, so each guess costs one try."""
    if token.isdigit():
        return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    if backup_codes.looks_like_backup_code(token):
        return list(BackupCodeDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    return []


def otp_verify(*, request: HttpRequest, token: str) -> OtpCheck:
    """Check a TOTP or backup code; on success the session is OTP-verified and rotated.

    Used both for the verification after login and for step-up. Each device throttles its
    own failures (django-otp's exponential back-off), so guessing is slow either way.
    """
    user = _user_of(request)
    token = token.strip()
    candidates = _candidate_devices(user, token)
    allowed = [device for device in candidates if device.verify_is_allowed()[0]]
    if candidates and not allowed:
        _audit_mfa_failure(request, user, reason="throttled")
        return OtpCheck(throttled=True)
    # One transaction: the spent code or throttle count and its audit entry commit together.
    with transaction.atomic():
        verified: Device | None = None
        for device in allowed:
            verified = django_otp.verify_token(user, device.persistent_id, token)
            if verified is not None:
                break
        if verified is None:
            _audit_mfa_failure(request, user, reason="invalid")
            return OtpCheck()
        is_backup = isinstance(verified, BackupCodeDevice)
        _audit_user(
            "mfa.verified",
            request=request,
            user=user,
            payload={"method": "backup_code" if is_backup else "totp"},
        )
        if is_backup:
            _audit_user(
                "mfa.backup_code.used",
                request=request,
                user=user,
                payload={"remaining": backup_codes.remaining_codes(device=verified)},
            )
    _mark_verified(request, verified)
    return OtpCheck(device=verified)


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device (created on first use), shown as a QR code.

    Reloading the enrollment page keeps the same secret, so a scan already made still works.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, confirmed=False, name=PENDING_DEVICE_NAME)
    return device


def _backup_codes_replace(*, user: User) -> list[str]:
    device, _ = BackupCodeDevice.objects.get_or_create(
        user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True}
    )
    return backup_codes.generate_codes(device=device)


def enrolment_link_granted(*, request: HttpRequest) -> EnrolmentLink | None:
    """The still-usable enrolment link this session opened, if any (see enrolment_link_open)."""
    user = request.user
    public_id = request.session.get(session_security.ENROLMENT_LINK)
    if not public_id or not user.is_authenticated:
        return None
    link = EnrolmentLink.objects.filter(public_id=public_id, user=user).first()
    return link if link is not None and link.is_pending() else None


def _lock_granted_link(request: HttpRequest, user: User) -> EnrolmentLink:
    public_id = request.session.get(session_security.ENROLMENT_LINK) or ""
    link = EnrolmentLink.objects.select_for_update().filter(public_id=public_id, user=user).first()
    if link is None or not link.is_pending():
        raise EnrolmentLinkRequiredError()
    return link


def totp_device_confirm(*, request: HttpRequest, token: str, name: str) -> Enrollment:
    """Confirm the pending TOTP device with a code from the app.

    The first device also creates the 10 backup codes, returned here for the one time they
    are shown, and needs the enrolment link this session opened (spent here, in the same
    transaction). Adding a device to an account that already has one needs a fresh step-up.
    """
    user = _user_of(request)
    first = not django_otp.user_has_device(user, confirmed=True)
    if not first:
        ensure_step_up(request)
    codes: list[str] = []
    with transaction.atomic():
        link = _lock_granted_link(request, user) if first else None
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            return Enrollment()
        if not device.verify_is_allowed()[0]:
            _audit_mfa_failure(request, user, reason="throttled")
            return Enrollment(throttled=True)
        if not device.verify_token(token.strip()):
            _audit_mfa_failure(request, user, reason="invalid")
            return Enrollment()
        device.confirmed = True
        device.name = name.strip()[:64] or "Authenticator app"
        device.save(update_fields=["confirmed", "name"])
        if link is not None:
            codes = _backup_codes_replace(user=user)
            link.used_at = timezone.now()
            link.save(update_fields=["used_at"])
        _audit_user(
            "mfa.enrolled",
            request=request,
            user=user,
            payload={
                "method": "totp",
                "first_device": first,
                "enrolment_link": link.public_id if link else None,
            },
        )
    request.session.pop(session_security.ENROLMENT_LINK, None)
    _mark_verified(request, device)
    return Enrollment(confirmed=True, backup_codes=codes)


@dataclass(frozen=True)
class IssuedEnrolmentLink:
    """A new enrolment link and its token: the only moment the token exists in clear."""

    link: EnrolmentLink
    token: str


def _enrolment_link_create(
    *, user: User, issued_by: User | None, actor: Actor, via: str, request: HttpRequest | None
) -> IssuedEnrolmentLink:
    """One live link per person: a new one replaces any earlier pending link."""
    now = timezone.now()
    replaced = EnrolmentLink.objects.filter(
        user=user, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    link = EnrolmentLink.objects.create(
        user=user,
        token_hash=enrolment_link_token_hash(token),
        issued_by=issued_by,
        created_at=now,
        expires_at=now + settings.ENROLMENT_LINK_MAX_AGE,
    )
    audit_record(
        action="mfa.enrolment_link.issued",
        request=request,
        actor=actor,
        target_type="user",
        target_id=user.public_id,
        payload={"link": link.public_id, "via": via, "replaced": replaced},
    )
    return IssuedEnrolmentLink(link=link, token=token)


def enrolment_link_issue(
    *,
    user: User,
    issued_by: User | None,
    via: str,
    request: HttpRequest | None = None,
) -> IssuedEnrolmentLink:
    """A single-use, expiring link for `user` to set up a first authenticator.

    `issued_by` is the person who issues it (platform staff in the admin), None for an
    operator's command (`via` names it). Someone who has an authenticator needs no link.
    """
    if user_has_authenticator(user=user):
        raise EnrolmentLinkRefusedError()
    actor = Actor.for_user(issued_by) if issued_by is not None else Actor.system(via)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        return _enrolment_link_create(
            user=locked, issued_by=issued_by, actor=actor, via=via, request=request
        )


def enrolment_link_issue_for_member(
    *, actor: User, merchant: Merchant, member_public_id: str, request: HttpRequest | None = None
) -> IssuedEnrolmentLink:
    """An owner or admin issues a teammate's enrolment link (from the team page, step-up)."""
    if request is not None:
        ensure_step_up(request)
    with transaction.atomic():
        team = _lock_team(merchant)
        _acting_membership(team, actor)
        target = _target(team, member_public_id).user
        if user_has_authenticator(user=target):
            raise EnrolmentLinkRefusedError()
        return _enrolment_link_create(
            user=target,
            issued_by=actor,
            actor=Actor.for_user(actor),
            via="team",
            request=request,
        )


def enrolment_link_open(*, request: HttpRequest, token: str) -> EnrolmentLink:
    """The logged-in (password-only) owner of the link opens it: this session may now enrol.

    The link is spent only when the device is confirmed, so a reload or a failed scan does not
    waste it; it still works once and only for its own person.
    """
    user = _user_of(request)
    link = (
        EnrolmentLink.objects.filter(token_hash=enrolment_link_token_hash(token), user=user)
        .select_related("user")
        .first()
    )
    if link is None or not link.is_pending():
        raise EnrolmentLinkInvalidError()
    request.session[session_security.ENROLMENT_LINK] = link.public_id
    return link


def backup_codes_regenerate(*, request: HttpRequest) -> list[str]:
    """New codes for the user; every earlier code stops working at once."""
    ensure_step_up(request)
    user = _user_of(request)
    with transaction.atomic():
        codes = _backup_codes_replace(user=user)
        _audit_user(
            "mfa.backup_codes.regenerated",
            request=request,
            user=user,
            payload={"count": len(codes)},
        )
    return codes


def mfa_reset(*, request: HttpRequest) -> None:
    """Remove every second factor of the user; the session must enroll again to continue."""
    ensure_step_up(request)
    user = _user_of(request)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        BackupCodeDevice.objects.filter(user=user).delete()
        _audit_user("mfa.reset", request=request, user=user)
        # The fresh OTP just proven binds the new enrolment to this session.
        issued = _enrolment_link_create(
            user=user, issued_by=user, actor=Actor.for_user(user), via="mfa_reset", request=request
        )
    request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
    request.session.pop(session_security.OTP_VERIFIED_AT, None)
    request.session[session_security.ENROLMENT_LINK] = issued.link.public_id


# --- Tenancy ----------------------------------------------------------------------------------


def merchant_switch(*, request: HttpRequest, merchant_public_id: str) -> Membership:
    """Make another of the user's merchants current; any other merchant is 'not found'."""
    user = _user_of(request)
    membership = (
        Membership.objects.select_related("merchant")
        .filter(user=user, merchant__public_id=merchant_public_id)
        .first()
    )
    if membership is None:
        raise MerchantNotFoundError()
    previous = getattr(request, "merchant", None)
    request.session[session_security.CURRENT_MERCHANT] = membership.merchant.public_id
    audit_record(
        action="merchant.switched",
        request=request,
        actor=Actor.for_user(user),
        merchant_id=membership.merchant.public_id,
        target_type="merchant",
        target_id=membership.merchant.public_id,
        payload={"from": previous.public_id if previous is not None else None},
    )
    return membership


def _lock_team(merchant: Merchant) -> list[Membership]:
    """Lock every membership of the merchant: owner counting must not race."""
    return list(
        Membership.objects.select_for_update(of=("self",))
        .filter(merchant=merchant)
        .select_related("user")
        .order_by("pk")
    )


def _acting_membership(team: list[Membership], actor: User) -> Membership:
    for membership in team:
        if membership.user_id == actor.pk and role_allows(membership.role, Permission.MANAGE_TEAM):
            return membership
    raise TeamPermissionError()


def _require_owner_for(acting: Membership, *roles: str) -> None:
    if Role.OWNER in roles and acting.role != Role.OWNER:
        raise TeamPermissionError("Only an owner may grant or remove the owner role.")


def _owner_count(team: list[Membership]) -> int:
    return sum(1 for membership in team if membership.role == Role.OWNER)


def _validate_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidRoleError(param="role")
    return role


def _target(team: list[Membership], member_public_id: str) -> Membership:
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
    _validate_role(role)
    with transaction.atomic():
        team = _lock_team(merchant)
        acting = _acting_membership(team, actor)
        target = _target(team, member_public_id)
        _require_owner_for(acting, target.role, role)
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
        team = _lock_team(merchant)
        acting = _acting_membership(team, actor)
        target = _target(team, member_public_id)
        _require_owner_for(acting, target.role)
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
    _validate_role(role)
    email = normalize_email(email)
    with transaction.atomic():
        team = _lock_team(merchant)
        acting = _acting_membership(team, actor)
        _require_owner_for(acting, role)
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
        team = _lock_team(merchant)
        acting = _acting_membership(team, actor)
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("merchant")
            .filter(merchant=merchant, public_id=invitation_public_id)
            .first()
        )
        if invitation is None or not invitation.is_pending():
            raise InvitationInvalidError()
        _require_owner_for(acting, invitation.role)
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
            issued = _enrolment_link_create(
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


# --- API keys ---------------------------------------------------------------------------------


def api_key_role_allowed(*, creator_role: str | None, role: str) -> bool:
    """Whether a key with `role` may be minted by someone holding `creator_role`.

    Keys never get the owner role (a leaked key must not be able to do what only a person
    should). A person's key may do nothing they cannot do themselves: the key role's
    permissions must be a subset of the creator's. `creator_role=None` is the operator's
    `create_api_key` command, bounded only by the first rule.
    """
    if role not in Role.values or role == Role.OWNER:
        return False
    if creator_role is None:
        return True
    return ROLE_PERMISSIONS.get(role, frozenset()) <= ROLE_PERMISSIONS.get(
        creator_role, frozenset()
    )


def _api_key_manager_role(*, merchant: Merchant, user: User | None) -> str | None:
    """The acting person's role in `merchant` (None for the system), if it may manage keys."""
    if user is None:
        return None
    membership = Membership.objects.filter(merchant=merchant, user=user).first()
    if membership is None or not role_allows(membership.role, Permission.MANAGE_API_KEYS):
        raise TeamPermissionError(
            "Your role does not allow managing API keys.", code="api_key_permission_denied"
        )
    return membership.role


def _api_key_audit_payload(api_key: ApiKey, *, step_up: bool) -> dict[str, Any]:
    # `key_id`, not `api_key` (a key name the scrubber redacts). Of the prefix only the
    # random characters after the public `ll_sk_` marker: the audit scrubber masks
    # anything shaped like a key, and these few characters identify it without revealing it.
    return {
        "key_id": api_key.public_id,
        "prefix": api_key.prefix.removeprefix(SECRET_PREFIX),
        "role": api_key.role,
        "step_up": step_up,
    }


def _step_up_of(request: HttpRequest | None) -> bool:
    if request is None:
        return False
    ensure_step_up(request)
    return True


def api_key_create(
    *,
    merchant: Merchant,
    name: str,
    role: str,
    created_by: User | None,
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """Mint a key for `merchant`; returns it with its secret, which exists in clear only here.

    Only the keyed hash is stored, so the caller must show the secret once and forget it.
    From the dashboard (`request` given) a fresh step-up OTP is required.
    """
    name = name.strip()
    if not name or len(name) > API_KEY_NAME_MAX_LENGTH:
        raise ApplicationError(
            "Give the key a name of at most 100 characters.", code="invalid_name", param="name"
        )
    step_up = _step_up_of(request)
    creator_role = _api_key_manager_role(merchant=merchant, user=created_by)
    if role not in Role.values or role == Role.OWNER:
        raise InvalidRoleError("API keys may have any role except owner.", param="role")
    if not api_key_role_allowed(creator_role=creator_role, role=role):
        raise TeamPermissionError(
            "A key may not do more than your own role allows.", code="api_key_role_too_high"
        )
    secret = generate_secret()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            merchant=merchant,
            name=name,
            role=role,
            prefix=secret[:PREFIX_LENGTH],
            secret_hash=hash_secret(secret),
            created_by=created_by,
        )
        audit_record(
            action="api_key.created",
            request=request,
            actor=Actor.for_user(created_by) if created_by else Actor.system("create_api_key"),
            merchant_id=merchant.public_id,
            target_type="api_key",
            target_id=api_key.public_id,
            payload=_api_key_audit_payload(api_key, step_up=step_up),
        )
    return api_key, secret


def api_key_revoke(
    *, api_key: ApiKey, revoked_by: User | None, request: HttpRequest | None = None
) -> ApiKey:
    """Revoke a key at once (its next request answers 401); revoking twice changes nothing.

    Anyone who may manage keys may revoke any key of the merchant, whatever its role:
    revoking only takes power away, and it is what an incident needs fast.
    """
    step_up = _step_up_of(request)
    _api_key_manager_role(merchant=api_key.merchant, user=revoked_by)
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("merchant").get(pk=api_key.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoked",
            request=request,
            actor=Actor.for_user(revoked_by) if revoked_by else Actor.system("api_key_revoke"),
            merchant_id=locked.merchant.public_id,
            target_type="api_key",
            target_id=locked.public_id,
            payload=_api_key_audit_payload(locked, step_up=step_up),
        )
    return locked
