"""Accounts' entries in the personal-data registry (compliance.personal_data).

A person with a login is a subject of their own: their user row is anonymised (the public id
stays, so audit entries keep naming the same pseudonym), memberships, authenticators,
enrolment links and login attempts are deleted. Invitations sent to an email are found for
both kinds of subject. Django's and the libraries' own tables that hold people (django-otp's
TOTP devices, django-axes' login records, the admin's change log, sessions) are classified
here too, since accounts owns logins. Registered from `AccountsConfig.ready()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.admin.models import LogEntry
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.db.models import Model, Q, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import (
    ApiKey,
    BackupCode,
    BackupCodeDevice,
    EnrolmentLink,
    Invitation,
    Membership,
    Merchant,
    User,
)
from compliance.personal_data import (
    PS,
    Erasure,
    ErasureResult,
    FieldKind,
    Holds,
    JSONValue,
    N,
    P,
    Subject,
    SubjectKind,
    SubjectNotFoundError,
    classify,
    iso,
    register,
    register_retention,
    register_subject_resolver,
)

USER = (SubjectKind.USER,)
ANYONE = (SubjectKind.USER, SubjectKind.CUSTOMER)


def user_subject(merchant_id: str, reference: str) -> Subject:
    """The login named by `usr_...` or email (merchant_id is not used: a login spans them)."""
    if reference.startswith("usr_"):
        user = User.objects.filter(public_id=reference).first()
    elif "@" in reference and len(reference) <= 254:
        user = User.objects.filter(email__iexact=reference).first()
    else:
        raise SubjectNotFoundError("name a person by their usr_ id or email address")
    if user is None:
        raise SubjectNotFoundError("no login has that id or email address")
    return Subject(kind=SubjectKind.USER, user_id=user.public_id, emails=(user.email.lower(),))


def _iexact_any(field: str, values: tuple[str, ...]) -> Q:
    if not values:
        return Q(pk__in=[])
    return reduce(or_, (Q(**{f"{field}__iexact": v}) for v in values))


def _users(subject: Subject) -> QuerySet[User]:
    return User.objects.filter(public_id=subject.user_id)


def _user_export(row: User) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "email": row.email,
        "full_name": row.full_name,
        "joined": iso(row.date_joined),
        "last_login": iso(row.last_login),
        "active": row.is_active,
    }


def _user_erase(subject: Subject) -> ErasureResult:
    # The row stays (audit entries, API keys and invitations point at its public id); the
    # address becomes one that can never be delivered (RFC 2606 `.invalid`) and never log in.
    count = 0
    for user in _users(subject):
        user.email = f"{user.public_id}@erased.invalid"
        user.full_name = ""
        user.is_active = False
        user.password = make_password(None)
        user.save(update_fields=["email", "full_name", "is_active", "password"])
        count += 1
    return ErasureResult(anonymised=count)


Finder = Callable[[Subject], QuerySet[Any]]
Eraser = Callable[[Subject], ErasureResult]


def _by_user(model: type[Model]) -> tuple[Finder, Eraser]:
    """find and erase for a table whose rows belong to one login through `user`."""

    def find(subject: Subject) -> QuerySet[Any]:
        return model._default_manager.filter(user__public_id=subject.user_id)

    def erase(subject: Subject) -> ErasureResult:
        deleted, _ = find(subject).delete()
        return ErasureResult(deleted=deleted)

    return find, erase


def _membership_export(row: Membership) -> dict[str, JSONValue]:
    return {"merchant": row.merchant.public_id, "role": row.role, "since": iso(row.created_at)}


def _device_export(row: Any) -> dict[str, JSONValue]:
    return {"name": row.name, "confirmed": row.confirmed}


def _enrolment_export(row: EnrolmentLink) -> dict[str, JSONValue]:
    return {"id": row.public_id, "created": iso(row.created_at), "used": iso(row.used_at)}


def _invitations(subject: Subject) -> QuerySet[Invitation]:
    found = Invitation.objects.filter(_iexact_any("email", subject.emails))
    if subject.kind == SubjectKind.CUSTOMER:
        found = found.filter(merchant__public_id=subject.merchant_id)
    return found


def _invitation_export(row: Invitation) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "merchant": row.merchant.public_id,
        "email": row.email,
        "role": row.role,
        "sent": iso(row.created_at),
        "accepted": iso(row.accepted_at),
    }


def _invitation_erase(subject: Subject) -> ErasureResult:
    deleted, _ = _invitations(subject).delete()
    return ErasureResult(deleted=deleted)


def _login_records(model: type[Model]) -> tuple[Finder, Eraser]:
    def find(subject: Subject) -> QuerySet[Any]:
        return model._default_manager.filter(_iexact_any("username", subject.emails))

    def erase(subject: Subject) -> ErasureResult:
        deleted, _ = find(subject).delete()
        return ErasureResult(deleted=deleted)

    return find, erase


def _login_record_export(row: Any) -> dict[str, JSONValue]:
    return {
        "username": row.username,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "at": iso(row.attempt_time),
    }


def _admin_changes(subject: Subject) -> QuerySet[LogEntry]:
    # The admin names a changed user by str(user), which is the email address.
    return LogEntry.objects.filter(_iexact_any("object_repr", subject.emails))


def _admin_change_export(row: LogEntry) -> dict[str, JSONValue]:
    return {"at": iso(row.action_time), "object": row.object_repr, "action": row.action_flag}


def _admin_change_erase(subject: Subject) -> ErasureResult:
    count = _admin_changes(subject).update(object_repr=subject.reference)
    return ErasureResult(anonymised=count)


def _expired_invitations(cutoff: datetime, holds: Holds) -> QuerySet[Invitation]:
    """Invitations never accepted that expired before the cutoff (the email is all they hold)."""
    return Invitation.objects.filter(accepted_at__isnull=True, expires_at__lt=cutoff).exclude(
        merchant__public_id__in=holds.merchants
    )


def _old_login_attempts(cutoff: datetime, holds: Holds) -> QuerySet[Any]:
    rows: QuerySet[Any] = AccessAttempt.objects.filter(attempt_time__lt=cutoff)
    return rows  # django-axes is untyped: the annotation keeps Any out of our signatures


def _old_login_log(cutoff: datetime, holds: Holds) -> QuerySet[Any]:
    rows: QuerySet[Any] = AccessLog.objects.filter(attempt_time__lt=cutoff)
    return rows


def _delete(rows: QuerySet[Any]) -> int:
    deleted, _ = rows.delete()
    return deleted


def register_all() -> None:
    """Called once from AccountsConfig.ready()."""
    classify(
        User,
        {
            "id": N,
            "password": PS,
            "last_login": P,
            "is_superuser": N,
            "public_id": PS,
            "email": P,
            "full_name": P,
            "is_active": N,
            "is_staff": N,
            "date_joined": P,
        },
    )
    register(
        User,
        subjects=USER,
        erasure=Erasure.ANONYMISE,
        find=_users,
        export=_user_export,
        erase=_user_erase,
        order=900,  # last: the other handlers find rows through the user
    )
    classify(
        Merchant,
        {
            "id": N,
            "public_id": N,
            "slug": N,
            "legal_name": N,
            "country": N,
            "default_currency": N,
            "created_at": N,
        },
        note="A business; its people are users and customers.",
    )
    classify(Membership, {"id": N, "user": PS, "merchant": N, "role": N, "created_at": N})
    find, erase = _by_user(Membership)
    register(
        Membership,
        subjects=USER,
        erasure=Erasure.DELETE,
        find=find,
        export=_membership_export,
        erase=erase,
    )
    classify(
        ApiKey,
        {
            "id": N,
            "public_id": N,
            "merchant": N,
            "name": N,
            "role": N,
            "prefix": N,
            "secret_hash": N,
            "created_by": PS,
            "created_at": N,
            "last_used_at": N,
            "revoked_at": N,
        },
        note="The merchant's key; who created it is a pseudonymous user id.",
    )
    classify(
        Invitation,
        {
            "id": N,
            "public_id": PS,
            "merchant": N,
            "email": P,
            "role": N,
            "token_hash": N,
            "invited_by": PS,
            "created_at": N,
            "expires_at": N,
            "accepted_at": N,
            "accepted_by": PS,
            "revoked_at": N,
        },
    )
    register(
        Invitation,
        subjects=ANYONE,
        erasure=Erasure.DELETE,
        find=_invitations,
        export=_invitation_export,
        erase=_invitation_erase,
    )
    classify(
        EnrolmentLink,
        {
            "id": N,
            "public_id": PS,
            "user": PS,
            "token_hash": N,
            "issued_by": PS,
            "created_at": N,
            "expires_at": N,
            "used_at": N,
            "revoked_at": N,
        },
    )
    find, erase = _by_user(EnrolmentLink)
    register(
        EnrolmentLink,
        subjects=USER,
        erasure=Erasure.DELETE,
        find=find,
        export=_enrolment_export,
        erase=erase,
    )
    throttled_device = {
        "id": N,
        "user": PS,
        "name": N,
        "confirmed": N,
        "throttling_failure_timestamp": N,
        "throttling_failure_count": N,
    }
    classify(BackupCodeDevice, throttled_device)
    find, erase = _by_user(BackupCodeDevice)
    register(
        BackupCodeDevice,
        subjects=USER,
        erasure=Erasure.DELETE,
        find=find,
        export=_device_export,
        erase=erase,
    )
    classify(BackupCode, {"id": N, "device": PS, "code_hash": PS, "used_at": N})
    classify(
        TOTPDevice,
        {
            **throttled_device,
            "created_at": N,
            "last_used_at": N,
            "key": PS,
            "step": N,
            "t0": N,
            "digits": N,
            "tolerance": N,
            "drift": N,
            "last_t": N,
        },
    )
    find, erase = _by_user(TOTPDevice)
    register(
        TOTPDevice,
        subjects=USER,
        erasure=Erasure.DELETE,
        find=find,
        export=_device_export,
        erase=erase,
    )
    login_record = {
        "id": N,
        "user_agent": P,
        "ip_address": P,
        "username": P,
        "http_accept": N,
        "path_info": N,
        "attempt_time": N,
    }
    extra: dict[type[Model], dict[str, FieldKind]] = {
        AccessAttempt: {"get_data": P, "post_data": P, "failures_since_start": N},
        AccessLog: {"logout_time": N, "session_hash": PS},
        AccessFailureLog: {"locked_out": N},
    }
    for model, fields in extra.items():
        classify(model, {**login_record, **fields}, note="django-axes: login attempts.")
        find, erase = _login_records(model)
        register(
            model,
            subjects=USER,
            erasure=Erasure.DELETE,
            find=find,
            export=_login_record_export,
            erase=erase,
        )
    classify(
        LogEntry,
        {
            "id": N,
            "action_time": N,
            "user": PS,
            "content_type": N,
            "object_id": PS,
            "object_repr": P,
            "action_flag": N,
            "change_message": N,
        },
        note="The admin's change log; a changed user is named by their email address.",
    )
    register(
        LogEntry,
        subjects=USER,
        erasure=Erasure.ANONYMISE,
        find=_admin_changes,
        export=_admin_change_export,
        erase=_admin_change_erase,
    )
    classify(
        Session,
        {"session_key": N, "session_data": PS, "expire_date": N},
        note="Holds a user's database id until it expires (12 h at most).",
    )
    register_subject_resolver(SubjectKind.USER, user_subject)
    register_retention(
        "accounts.expired_invitations",
        description="Invitations that expired unaccepted",
        select=_expired_invitations,
        apply=_delete,
    )
    register_retention(
        "accounts.login_attempts",
        description="django-axes records of failed logins (emails and IP addresses)",
        select=_old_login_attempts,
        apply=_delete,
    )
    register_retention(
        "accounts.login_log",
        description="django-axes records of logins and logouts (emails and IP addresses)",
        select=_old_login_log,
        apply=_delete,
    )
