"""Audit log reads: the merchant's filtered entries, CSV rows, and the chain status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, QuerySet

from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal, AuditVerification


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
