"""The API's entries in the personal-data registry (compliance.personal_data).

Stored idempotent answers are replayed for 24 h; a customer's answer holds their details. On
erasure they are redacted, not deleted: the key must still refuse a second, different
request. Registered from `ApiConfig.ready()`.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from api.models import IdempotencyRecord
from compliance.personal_data import (
    PS,
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


def _replays(subject: Subject) -> QuerySet[IdempotencyRecord]:
    return IdempotencyRecord.objects.filter(merchant__public_id=subject.merchant_id).filter(
        Q(target_public_id__in=subject.customer_ids)
        | mentions("response_body", subject.identifiers)
    )


def _replay_export(row: IdempotencyRecord) -> dict[str, JSONValue]:
    return {
        "request": f"{row.request_method} {row.request_path}",
        "created": iso(row.created_at),
        "response": row.response_body,
    }


def _replay_erase(subject: Subject) -> ErasureResult:
    count = redact_rows(
        _replays(subject), "response_body", subject.identifiers, also_save=["updated_at"]
    )
    return ErasureResult(anonymised=count)


def register_all() -> None:
    """Called once from ApiConfig.ready()."""
    classify(
        IdempotencyRecord,
        {
            "id": N,
            "merchant": N,
            "key": N,
            "request_method": N,
            "request_path": N,
            "request_fingerprint": PS,
            "recovery_point": N,
            "locked_at": N,
            "target_type": N,
            "target_public_id": PS,
            "response_status": N,
            "response_body": P,
            "created_at": N,
            "updated_at": N,
        },
        note="Stored API answers replayed for 24 h; a customer's answer holds their details.",
    )
    register(
        IdempotencyRecord,
        subjects=(SubjectKind.CUSTOMER,),
        erasure=Erasure.ANONYMISE,
        find=_replays,
        export=_replay_export,
        erase=_replay_erase,
    )
