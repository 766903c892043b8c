"""Compliance's own tables in the personal-data registry: audit log, data requests, holds.

Audit entries name people only by pseudonymous ids, but keep the client IP and user agent of
each action: they are retained as security records (PCI DSS 10.5.1: one year), never edited,
and exported on an access request.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from compliance.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditSeal,
    AuditVerification,
    DataRequest,
    DataRequestStep,
    LegalHold,
)
from compliance.personal_data import (
    PS,
    Erasure,
    ErasureResult,
    JSONValue,
    N,
    R,
    Retention,
    Subject,
    SubjectKind,
    classify,
    iso,
    register,
)

SECURITY_LOG = Retention(
    basis="Legal obligation, Art. 6(1)(c), and security of processing, Art. 32: the "
    "tamper-evident audit trail (PCI DSS 10.5.1 keeps it at least 12 months)",
    years=1,
)


def _entries(subject: Subject) -> QuerySet[AuditEntry]:
    ids = [subject.user_id] if subject.user_id else list(subject.customer_ids)
    return AuditEntry.objects.filter(Q(actor_id__in=ids) | Q(target_id__in=ids))


def _entry_export(row: AuditEntry) -> dict[str, JSONValue]:
    return {
        "at": iso(row.created_at),
        "action": row.action,
        "actor": row.actor_id,
        "target": row.target_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
    }


def _entry_erase(subject: Subject) -> ErasureResult:
    # Append-only by design (database triggers): kept, and named on the certificate.
    newest = _entries(subject).order_by("-created_at").values_list("created_at", flat=True)
    last = newest.first()
    return ErasureResult(
        retained=_entries(subject).count(),
        retained_until=SECURITY_LOG.until(last) if last else None,
    )


def register_all() -> None:
    """Called once from ComplianceConfig.ready()."""
    classify(
        AuditEntry,
        {
            "id": N,
            "created_at": R,
            "stamp": N,
            "actor_kind": R,
            "actor_id": PS,
            "merchant_public_id": R,
            "action": R,
            "target_type": R,
            "target_id": PS,
            "outcome": R,
            "ip": R,
            "user_agent": R,
            "request_id": N,
            "payload": PS,
        },
    )
    register(
        AuditEntry,
        subjects=(SubjectKind.CUSTOMER, SubjectKind.USER),
        erasure=Erasure.RETAIN,
        retention=SECURITY_LOG,
        find=_entries,
        export=_entry_export,
        erase=_entry_erase,
    )
    classify(
        AuditSeal,
        {"position": N, "entry": N, "entry_hash": N, "link_hash": N, "horizon": N},
    )
    classify(
        AuditCheckpoint,
        {
            "number": N,
            "log_id": N,
            "size": N,
            "head_hash": N,
            "created_at": N,
            "public_key": N,
            "signature": N,
        },
    )
    classify(
        AuditVerification,
        {
            "id": N,
            "started_at": N,
            "finished_at": N,
            "result": N,
            "verified": N,
            "first_bad_position": N,
            "problem": N,
            "message": N,
        },
    )
    classify(
        DataRequest,
        {
            "id": N,
            "public_id": N,
            "type": N,
            "ground": N,
            "status": N,
            "subject_kind": N,
            "merchant_public_id": N,
            "subject_reference": PS,
            "opened_by": PS,
            "received_at": N,
            "due_at": N,
            "extended_at": N,
            "extension_reason": N,
            "verified_at": N,
            "verified_by": PS,
            "verification_method": N,
            "approved_at": N,
            "approved_by": PS,
            "rejected_at": N,
            "rejected_by": PS,
            "rejection_reason": N,
            "started_at": N,
            "completed_at": N,
            "certificate": PS,
        },
        note="The request itself is the proof of erasure: pseudonymous ids only.",
    )
    classify(
        DataRequestStep,
        {
            "id": N,
            "data_request": N,
            "name": N,
            "status": N,
            "attempts": N,
            "result": PS,
            "last_error": N,
            "updated_at": N,
        },
    )
    classify(
        LegalHold,
        {
            "id": N,
            "merchant_public_id": N,
            "customer_public_id": PS,
            "reason": N,
            "placed_by": PS,
            "placed_at": N,
            "released_at": N,
        },
    )
