"""Data-request workflow (GDPR Art. 12, 15, 17, 20): open, verify, approve, reject, extend.

Every transition locks the request, moves only forward, and writes its audit entry in the
same transaction. Officers need `compliance.approve_datarequest`; whoever opened a request
cannot approve it (four eyes). Approval hands the request to the execution task
(compliance.execution) once the approval has committed. The admin adds a fresh one-time
password on top (compliance.admin).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance import personal_data
from compliance.actors import Actor
from compliance.models import (
    DATA_REQUEST_IN_PROGRESS,
    DataRequest,
    DataRequestStatus,
    DataRequestType,
    DataSubjectKind,
    ErasureGround,
)
from compliance.services import audit_record
from config.exceptions import ApplicationError, ConflictError, NotFoundError

APPROVE_PERMISSION = "compliance.approve_datarequest"
ESCALATION_AFTER = timedelta(days=20)
MAX_EXTENSION_MONTHS = 2
_FINISHED = frozenset({DataRequestStatus.COMPLETED, DataRequestStatus.REJECTED})
_TEXT_MAX = 500


class DataRequestError(ApplicationError):
    code = "data_request_invalid"


class DataRequestForbiddenError(DataRequestError):
    status_code = 403
    error_type = "permission_error"
    code = "data_request_forbidden"


class DataRequestStateError(ConflictError):
    code = "data_request_state"


class DataRequestDuplicateError(ConflictError):
    code = "data_request_already_open"


class DataRequestSubjectError(NotFoundError):
    code = "data_request_subject_missing"
    default_message = "No record names that data subject."


def add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later, or the month's last day (31 January + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Deadline:
    """Where a request stands against Art. 12(3)'s clock."""

    due_at: datetime
    days_left: int
    escalated: bool
    overdue: bool


def data_request_deadline(data_request: DataRequest, *, now: datetime | None = None) -> Deadline:
    now = now or timezone.now()
    open_ = data_request.status not in _FINISHED
    end = now if open_ else (data_request.completed_at or data_request.rejected_at or now)
    return Deadline(
        due_at=data_request.due_at,
        days_left=(data_request.due_at - now).days if open_ else 0,
        escalated=open_ and now >= data_request.received_at + ESCALATION_AFTER,
        overdue=end > data_request.due_at,
    )


def _actor_text(actor: Actor) -> str:
    return str(actor)


def _text(value: str, *, name: str, required: bool = True) -> str:
    cleaned = " ".join(str(value).split())
    if required and not cleaned:
        raise DataRequestError(f"Give the {name}.", param=name)
    if len(cleaned) > _TEXT_MAX:
        raise DataRequestError(f"The {name} is at most {_TEXT_MAX} characters.", param=name)
    return cleaned


def _audit(data_request: DataRequest, action: str, actor: Actor, **payload: Any) -> None:
    audit_record(
        action=f"data_request.{action}",
        actor=actor,
        merchant_id=data_request.merchant_public_id,
        target_type="data_request",
        target_id=data_request.public_id,
        payload={"status": data_request.status, "type": data_request.type, **payload},
    )


def _refuse_if_open(fields: dict[str, str]) -> None:
    """The same request still being worked is named rather than opened twice."""
    already = DataRequest.objects.filter(**fields, status__in=DATA_REQUEST_IN_PROGRESS).first()
    if already is not None:
        raise DataRequestDuplicateError(
            f"A {already.type} request for this data subject is already open: "
            f"{already.public_id} ({already.status}).",
            param="customer" if already.subject_kind == DataSubjectKind.CUSTOMER else "subject",
        )


def data_request_open(
    *,
    request_type: str,
    subject_kind: str,
    reference: str,
    actor: Actor,
    merchant_id: str = "",
    ground: str = "",
    received_at: datetime | None = None,
) -> DataRequest:
    """Record a request the moment it is received; the clock starts now (or at `received_at`
    when staff log a request that arrived earlier by post or email)."""
    if request_type not in DataRequestType.values:
        raise DataRequestError("type is access or erasure.", param="type")
    if subject_kind not in DataSubjectKind.values:
        raise DataRequestError("subject is a customer or a user.", param="subject_kind")
    if request_type == DataRequestType.ERASURE and ground not in ErasureGround.values:
        raise DataRequestError("An erasure names its ground, Art. 17(1)(a)-(f).", param="ground")
    if request_type == DataRequestType.ACCESS and ground:
        raise DataRequestError("Only an erasure has a ground.", param="ground")
    if subject_kind == DataSubjectKind.CUSTOMER and not merchant_id:
        raise DataRequestError("A customer belongs to a merchant.", param="merchant")
    reference = _text(reference, name="reference")[:254]
    try:
        subject = personal_data.subject_resolve(
            personal_data.SubjectKind(subject_kind), merchant_id=merchant_id, reference=reference
        )
    except personal_data.SubjectNotFoundError as error:
        raise DataRequestSubjectError(str(error), param="customer") from error
    now = timezone.now()
    received = min(received_at or now, now)
    fields = {
        "type": request_type,
        "subject_kind": subject_kind,
        "merchant_public_id": merchant_id if subject_kind == DataSubjectKind.CUSTOMER else "",
        "subject_reference": subject.reference,
    }
    _refuse_if_open(fields)
    try:
        with transaction.atomic():
            data_request = DataRequest.objects.create(
                **fields,
                ground=ground,
                opened_by=_actor_text(actor),
                received_at=received,
                due_at=add_months(received, 1),
            )
            _audit(data_request, "opened", actor, subject=subject.reference, ground=ground)
    except IntegrityError:
        # Opened at the same moment by another request (the constraint dsr_one_open_per_subject).
        _refuse_if_open(fields)
        raise
    return data_request


def _officer(officer: Any) -> Actor:
    if not (getattr(officer, "is_active", False) and officer.has_perm(APPROVE_PERMISSION)):
        raise DataRequestForbiddenError(f"This needs the permission {APPROVE_PERMISSION}.")
    return Actor.for_user(officer)


_OPEN = (DataRequestStatus.RECEIVED, DataRequestStatus.VERIFIED, DataRequestStatus.APPROVED)


def _move(
    data_request: DataRequest,
    allowed: tuple[str, ...],
    *,
    actor: Actor,
    action: str,
    changes: Callable[[DataRequest], dict[str, Any]],
    payload: dict[str, Any] | None = None,
) -> DataRequest:
    """One transition: lock, check the state (and whatever `changes` checks, raising), apply
    the changes, audit, all in one transaction. The caller's object is refreshed too."""
    with transaction.atomic():
        locked = DataRequest.objects.select_for_update().get(pk=data_request.pk)
        if locked.status not in allowed:
            raise DataRequestStateError(
                f"The request is {locked.status}; this needs it {' or '.join(allowed)}."
            )
        for name, value in changes(locked).items():
            setattr(locked, name, value)
        locked.save()
        _audit(locked, action, actor, **(payload or {}))
    data_request.refresh_from_db()
    return locked


def _verified(actor: Actor, method: str) -> dict[str, Any]:
    return {
        "status": DataRequestStatus.VERIFIED,
        "verified_at": timezone.now(),
        "verified_by": _actor_text(actor),
        "verification_method": method,
    }


def data_request_verify(*, data_request: DataRequest, officer: Any, method: str) -> DataRequest:
    """The requester's identity was checked (how: `method`, e.g. "replied from the email on
    file" or "passport seen by video call"); who checked is recorded."""
    actor = _officer(officer)
    method = _text(method, name="verification method")
    return _move(
        data_request,
        (DataRequestStatus.RECEIVED,),
        actor=actor,
        action="verified",
        changes=lambda _locked: _verified(actor, method),
        payload={"method": method[:200]},
    )


def data_request_attest(*, data_request: DataRequest, actor: Actor, how: str = "") -> DataRequest:
    """A merchant's own attestation that it verified its customer (a request it opened over
    the API or the dashboard), recorded as such with how it says it checked (`how`); an
    officer still approves."""
    method = "merchant attestation"
    if how:
        method = f"{method}: {_text(how, name='verification method')}"

    def changes(locked: DataRequest) -> dict[str, Any]:
        if locked.opened_by != _actor_text(actor) or not locked.merchant_public_id:
            raise DataRequestForbiddenError("Only the merchant that opened it attests it.")
        return _verified(actor, method)

    return _move(
        data_request,
        (DataRequestStatus.RECEIVED,),
        actor=actor,
        action="verified",
        changes=changes,
        # Not the merchant's own words: the append-only log keeps no free text about a person.
        payload={"method": "merchant attestation"},
    )


def data_request_approve(*, data_request: DataRequest, officer: Any) -> DataRequest:
    """Approve a verified request and start its execution after commit (four eyes)."""
    actor = _officer(officer)

    def changes(locked: DataRequest) -> dict[str, Any]:
        if locked.opened_by == _actor_text(actor):
            raise DataRequestForbiddenError("Whoever opened a request cannot approve it.")
        return {
            "status": DataRequestStatus.APPROVED,
            "approved_at": timezone.now(),
            "approved_by": _actor_text(actor),
        }

    with transaction.atomic():
        approved = _move(
            data_request,
            (DataRequestStatus.VERIFIED,),
            actor=actor,
            action="approved",
            changes=changes,
        )
        transaction.on_commit(lambda: _enqueue(approved.pk))
    return approved


def _enqueue(pk: int) -> None:
    from compliance.tasks import data_request_execute_task

    data_request_execute_task.delay(pk)


def data_request_reject(*, data_request: DataRequest, officer: Any, reason: str) -> DataRequest:
    """Refuse a request (manifestly unfounded, identity not proven, Art. 17(3) applies...)."""
    actor = _officer(officer)
    reason = _text(reason, name="reason")
    return _move(
        data_request,
        _OPEN,
        actor=actor,
        action="rejected",
        changes=lambda _locked: {
            "status": DataRequestStatus.REJECTED,
            "rejected_at": timezone.now(),
            "rejected_by": _actor_text(actor),
            "rejection_reason": reason,
        },
        payload={"reason": reason[:200]},
    )


def data_request_extend(
    *, data_request: DataRequest, officer: Any, months: int, reason: str
) -> DataRequest:
    """Art. 12(3): extend once, by up to two further months, with a reason, and only while
    the first month runs."""
    actor = _officer(officer)
    reason = _text(reason, name="reason")
    if isinstance(months, bool) or not isinstance(months, int):
        raise DataRequestError("Extend by 1 or 2 months.", param="months")
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise DataRequestError("Extend by 1 or 2 months.", param="months")

    def changes(locked: DataRequest) -> dict[str, Any]:
        if locked.extended_at is not None:
            raise DataRequestStateError("A request is extended only once.")
        now = timezone.now()
        first_due = add_months(locked.received_at, 1)
        if now >= first_due:
            raise DataRequestStateError("The first month has run out; it cannot be extended.")
        return {
            "due_at": add_months(first_due, months),
            "extended_at": now,
            "extension_reason": reason,
        }

    return _move(
        data_request,
        DATA_REQUEST_IN_PROGRESS,
        actor=actor,
        action="extended",
        changes=changes,
        payload={"months": months, "reason": reason[:200]},
    )
