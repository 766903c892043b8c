"""Compliance reads: the merchant's audit entries, the chain status, and its data requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, QuerySet

from compliance.data_requests import Deadline, data_request_deadline
from compliance.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditSeal,
    AuditVerification,
    DataRequest,
    DataRequestStatus,
)
from config.exceptions import NotFoundError


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_entry_list(
    *, merchant_public_id: str | None, filters: AuditFilters
) -> QuerySet[AuditEntry]:
    """Entries newest first; `merchant_public_id=None` only for staff views of every merchant."""
    entries = AuditEntry.objects.all()
    if merchant_public_id is not None:
        entries = entries.filter(merchant_public_id=merchant_public_id)
    if filters.actor:
        entries = entries.filter(actor_id=filters.actor)
    if filters.action:
        # A trailing dot or a prefix selects a family of actions ("auth." or "auth.login").
        entries = entries.filter(action__startswith=filters.action)
    if filters.target:
        entries = entries.filter(target_id=filters.target)
    if filters.since is not None:
        entries = entries.filter(created_at__gte=filters.since)
    if filters.until is not None:
        entries = entries.filter(created_at__lt=filters.until)
    return entries.select_related("seal").order_by("-created_at", "-id")


def audit_unsealed_count() -> int:
    """Entries not on the chain yet (waiting for the sealer)."""
    return AuditEntry.objects.filter(seal__isnull=True).count()


@dataclass(frozen=True)
class ChainStatus:
    size: int
    pending: int
    last_checkpoint: AuditCheckpoint | None
    last_verification: AuditVerification | None


def audit_chain_status() -> ChainStatus:
    size = AuditSeal.objects.aggregate(size=Max("position"))["size"] or 0
    return ChainStatus(
        size=size,
        pending=audit_unsealed_count(),
        last_checkpoint=AuditCheckpoint.objects.order_by("-number").first(),
        last_verification=AuditVerification.objects.order_by("-finished_at", "-id").first(),
    )


# --- Data requests ----------------------------------------------------------------------------

# Ids are checked before the query: anything else names nothing (and PostgreSQL refuses NUL).
_DATA_REQUEST_ID = re.compile(r"dsr_[A-Za-z0-9]{1,60}")


def data_request_queryset(*, merchant_public_id: str) -> QuerySet[DataRequest]:
    """The merchant's own requests (about its customers), newest first."""
    return DataRequest.objects.filter(merchant_public_id=merchant_public_id).order_by(
        "-received_at", "-id"
    )


def data_request_get(*, merchant_public_id: str, public_id: str) -> DataRequest:
    """One of the merchant's requests; another merchant's, or a malformed id, is NotFoundError."""
    data_request = None
    if _DATA_REQUEST_ID.fullmatch(public_id):
        data_request = (
            data_request_queryset(merchant_public_id=merchant_public_id)
            .filter(public_id=public_id)
            .first()
        )
    if data_request is None:
        raise NotFoundError("No such data request.", param="id")
    return data_request


def data_request_timeline(data_request: DataRequest) -> QuerySet[AuditEntry]:
    """Every audit entry about the request, oldest first: its timeline."""
    return AuditEntry.objects.filter(
        target_type="data_request", target_id=data_request.public_id
    ).order_by("created_at", "id")


@dataclass(frozen=True)
class DataRequestRow:
    """A request with its deadline as people read it: days left, escalated from day 20,
    overdue (shown in red wherever requests are listed)."""

    data_request: DataRequest
    deadline: Deadline
    label: str
    css: str


def data_request_row(data_request: DataRequest, *, now: datetime | None = None) -> DataRequestRow:
    state = data_request_deadline(data_request, now=now)
    if data_request.status in (DataRequestStatus.COMPLETED, DataRequestStatus.REJECTED):
        label = "completed late" if state.overdue else "on time"
        css = "deadline-overdue" if state.overdue else "deadline-done"
    elif state.overdue:
        label, css = f"overdue by {-state.days_left} day(s)", "deadline-overdue"
    elif state.escalated:
        label, css = (
            f"{state.days_left} day(s) left, escalated (day 20 passed)",
            "deadline-escalated",
        )
    else:
        label, css = f"{state.days_left} day(s) left", "deadline-open"
    return DataRequestRow(data_request=data_request, deadline=state, label=label, css=css)
