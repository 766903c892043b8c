"""Enrolment links: single-use, expiring links for a person to set up a first authenticator."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import session_security
from accounts.decorators import ensure_step_up
from accounts.exceptions import (
    EnrolmentLinkInvalidError,
    EnrolmentLinkRefusedError,
    EnrolmentLinkRequiredError,
)
from accounts.models import (
    EnrolmentLink,
    Merchant,
    User,
)
from accounts.selectors import (
    enrolment_link_token_hash,
    user_has_authenticator,
)
from accounts.services.team import (
    acting_membership,
    team_lock,
    team_member,
)
from accounts.services.users import acting_user
from compliance.actors import Actor
from compliance.services import audit_record


def enrolment_link_granted(*, request: HttpRequest) -> EnrolmentLink | None:
    """The still-usable enrolment link this session opened, if any (see enrolment_link_open)."""
    user = request.user
    public_id = request.session.get(session_security.ENROLMENT_LINK)
    if not public_id or not user.is_authenticated:
        return None
    link = EnrolmentLink.objects.filter(public_id=public_id, user=user).first()
    return link if link is not None and link.is_pending() else None


def granted_link_lock(request: HttpRequest, user: User) -> EnrolmentLink:
    public_id = request.session.get(session_security.ENROLMENT_LINK) or ""
    link = EnrolmentLink.objects.select_for_update().filter(public_id=public_id, user=user).first()
    if link is None or not link.is_pending():
        raise EnrolmentLinkRequiredError()
    return link


@dataclass(frozen=True)
class IssuedEnrolmentLink:
    """A new enrolment link and its token: the only moment the token exists in clear."""

    link: EnrolmentLink
    token: str


def enrolment_link_create(
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
        return enrolment_link_create(
            user=locked, issued_by=issued_by, actor=actor, via=via, request=request
        )


def enrolment_link_issue_for_member(
    *, actor: User, merchant: Merchant, member_public_id: str, request: HttpRequest | None = None
) -> IssuedEnrolmentLink:
    """An owner or admin issues a teammate's enrolment link (from the team page, step-up)."""
    if request is not None:
        ensure_step_up(request)
    with transaction.atomic():
        team = team_lock(merchant)
        acting_membership(team, actor)
        target = team_member(team, member_public_id).user
        if user_has_authenticator(user=target):
            raise EnrolmentLinkRefusedError()
        return enrolment_link_create(
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
    user = acting_user(request)
    link = (
        EnrolmentLink.objects.filter(token_hash=enrolment_link_token_hash(token), user=user)
        .select_related("user")
        .first()
    )
    if link is None or not link.is_pending():
        raise EnrolmentLinkInvalidError()
    request.session[session_security.ENROLMENT_LINK] = link.public_id
    return link
