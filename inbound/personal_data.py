"""Inbound's entries in the personal-data registry (compliance.personal_data).

Raw processor events hold billing details, emails and names in `payload`: on erasure the
events that mention the subject (by the identifiers its resolver supplied) are redacted in
place. Registered from `InboundConfig.ready()`.
"""

from __future__ import annotations

from django.db.models import QuerySet

from compliance.personal_data import (
    Erasure,
    ErasureResult,
    JSONValue,
    N,
    P,
    Subject,
    SubjectKind,
    classify,
    iso,
    mentions,
    redact_rows,
    register,
)
from inbound.models import InboundEvent, OutboxEntry


def _events(subject: Subject) -> QuerySet[InboundEvent]:
    return InboundEvent.objects.filter(merchant__public_id=subject.merchant_id).filter(
        mentions("payload", subject.identifiers)
    )


def _event_export(row: InboundEvent) -> dict[str, JSONValue]:
    return {
        "id": row.public_id,
        "provider": row.provider,
        "type": row.type,
        "received": iso(row.received_at),
        "payload": row.payload,
    }


def _event_erase(subject: Subject) -> ErasureResult:
    # The stored body no longer matches `body_sha256` afterwards: the hash proves what
    # arrived, and what arrived named a person we must forget.
    return ErasureResult(anonymised=redact_rows(_events(subject), "payload", subject.identifiers))


def register_all() -> None:
    """Called once from InboundConfig.ready()."""
    classify(
        InboundEvent,
        {
            "id": N,
            "public_id": N,
            "provider": N,
            "event_id": N,
            "type": N,
            "account": N,
            "merchant": N,
            "payload": P,
            "body_sha256": N,
            "status": N,
            "attempts": N,
            "last_error": N,
            "next_attempt_at": N,
            "received_at": N,
            "processed_at": N,
            "processor_created": N,
        },
        note="Raw processor events: billing details, emails and names inside `payload`.",
    )
    register(
        InboundEvent,
        subjects=(SubjectKind.CUSTOMER,),
        erasure=Erasure.ANONYMISE,
        find=_events,
        export=_event_export,
        erase=_event_erase,
    )
    classify(OutboxEntry, {"id": N, "event": N, "created_at": N, "dispatched_at": N})
