"""Carrying out an approved data request through the personal-data registry.

Erasure: first each processor is told (Stripe deletes the customer, Plaid removes the item:
they need the ids local erasure removes), then every registered model is erased in the
registry's order, then the signed certificate is issued. Access: the export is counted and
offered for download for EXPORT_AVAILABLE_DAYS (it is produced on demand, streamed, never
stored). Each step is a `DataRequestStep` committed with its effect, so a run that stops
(a processor outage, a crash) resumes where it stopped and does nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance import personal_data, signing
from compliance.actors import Actor
from compliance.certificate_proofs import audit_inclusion
from compliance.certificates import (
    CERTIFICATE_TYPE,
    CERTIFICATE_VERSION,
    CERTIFIED_ACTION,
    certificate_digest,
    certificate_problem,
)
from compliance.data_requests import DataRequestStateError
from compliance.models import (
    DataRequest,
    DataRequestStatus,
    DataRequestStep,
    DataRequestType,
    StepStatus,
)
from compliance.services import audit_record

EXPORT_SCHEMA_ID = "https://ledgerline.test/schemas/data-export-v1.json"
OPERATOR = Actor.system("data_request.execute")


class CertificateDefectError(RuntimeError):
    """The certificate built would fail `verify_certificate`: a defect in the issuer."""


class AuditProofPendingError(personal_data.ProcessorPendingError):
    """The certification entry waits for the sealer (an older audit writer still runs): the
    task retries with backoff, like a processor outage, and resumes at the proof."""


def _subject(data_request: DataRequest) -> personal_data.Subject:
    return personal_data.subject_resolve(
        personal_data.SubjectKind(data_request.subject_kind),
        merchant_id=data_request.merchant_public_id,
        reference=data_request.subject_reference,
    )


def _audit(data_request: DataRequest, action: str, **payload: Any) -> None:
    audit_record(
        action=f"data_request.{action}",
        actor=OPERATOR,
        merchant_id=data_request.merchant_public_id,
        target_type="data_request",
        target_id=data_request.public_id,
        payload=payload,
    )


def _start(pk: int) -> DataRequest | None:
    with transaction.atomic():
        locked = DataRequest.objects.select_for_update().get(pk=pk)
        if locked.status in (DataRequestStatus.COMPLETED, DataRequestStatus.REJECTED):
            return None
        if locked.status == DataRequestStatus.APPROVED:
            locked.status = DataRequestStatus.EXECUTING
            locked.started_at = timezone.now()
            locked.save(update_fields=["status", "started_at"])
            _audit(locked, "executing")
        elif locked.status != DataRequestStatus.EXECUTING:
            raise DataRequestStateError(f"A {locked.status} request is not executed.")
        return locked


def _done(data_request: DataRequest) -> set[str]:
    return set(data_request.steps.filter(status=StepStatus.DONE).values_list("name", flat=True))


def _record(data_request: DataRequest, name: str, *, result: dict[str, Any]) -> None:
    DataRequestStep.objects.update_or_create(
        data_request=data_request,
        name=name,
        defaults={
            "status": StepStatus.DONE,
            "result": result,
            "last_error": "",
            "updated_at": timezone.now(),
        },
    )


def _record_failure(data_request: DataRequest, name: str, error: Exception) -> None:
    step, _ = DataRequestStep.objects.get_or_create(
        data_request=data_request, name=name, defaults={"status": StepStatus.PENDING}
    )
    step.attempts += 1
    # The class and the processor's code only: an exception's text may quote the subject.
    step.last_error = f"{type(error).__name__}: {getattr(error, 'code', '')}"[:500]
    step.updated_at = timezone.now()
    step.save()


def _tell_processors(data_request: DataRequest, subject: personal_data.Subject) -> None:
    done = _done(data_request)
    for processor in personal_data.processors(subject.kind):
        name = f"processor:{processor.name}"
        if name in done:
            continue
        try:
            confirmations = processor.notify(subject)
        except Exception as error:
            _record_failure(data_request, name, error)
            raise
        with transaction.atomic():
            _record(data_request, name, result={"confirmations": confirmations})
            _audit(data_request, "processor_told", processor=processor.name)


def _erase(data_request: DataRequest, subject: personal_data.Subject) -> None:
    done = _done(data_request)
    for handler in personal_data.handlers(subject.kind):
        name = f"erase:{handler.label}"
        if name in done:
            continue
        with transaction.atomic():
            # Two deliveries of the task may overlap: the request's row lock serialises their
            # steps, and the second sees the first's record and skips.
            locked = DataRequest.objects.select_for_update().get(pk=data_request.pk)
            if locked.steps.filter(name=name, status=StepStatus.DONE).exists():
                continue
            outcome = handler.erase(subject)
            _record(
                data_request,
                name,
                result={
                    "action": handler.erasure.value,
                    "deleted": outcome.deleted,
                    "anonymised": outcome.anonymised,
                    "retained": outcome.retained,
                    "basis": handler.retention.basis if handler.retention else "",
                    "retained_until": outcome.retained_until.isoformat()
                    if outcome.retained_until
                    else "",
                },
            )


def _count_export(data_request: DataRequest, subject: personal_data.Subject) -> None:
    if "export" in _done(data_request):
        return
    counts = {h.label: h.find(subject).count() for h in personal_data.handlers(subject.kind)}
    with transaction.atomic():
        _record(data_request, "export", result={"records": counts})


def _days_used(data_request: DataRequest, completed: datetime) -> int:
    return (completed.date() - data_request.received_at.date()).days


def _certificate_core(data_request: DataRequest, completed: datetime) -> dict[str, Any]:
    steps = {s.name: s.result for s in data_request.steps.filter(status=StepStatus.DONE)}
    systems = [
        {"system": name.removeprefix("erase:"), **result}
        for name, result in sorted(steps.items())
        if name.startswith("erase:")
    ]
    processors = [
        {"name": name.removeprefix("processor:"), "confirmations": result["confirmations"]}
        for name, result in sorted(steps.items())
        if name.startswith("processor:")
    ]
    backups = completed + timedelta(days=settings.BACKUP_RETENTION_DAYS)
    return {
        "type": CERTIFICATE_TYPE,
        "v": CERTIFICATE_VERSION,
        "request": data_request.public_id,
        "request_type": data_request.type,
        "ground": data_request.ground,
        "subject": {
            "kind": data_request.subject_kind,
            "id": data_request.subject_reference,
            "merchant": data_request.merchant_public_id,
        },
        "received_at": data_request.received_at.isoformat(),
        "verified_at": data_request.verified_at.isoformat() if data_request.verified_at else "",
        "completed_at": completed.isoformat(),
        "days_used": _days_used(data_request, completed),
        "opened_by": data_request.opened_by,
        "verified_by": data_request.verified_by,
        "approved_by": data_request.approved_by,
        "operator": str(OPERATOR),
        "systems": systems,
        "processors": processors,
        "backups_beyond_use_until": backups.date().isoformat(),
        "key": signing.public_key_text(),
    }


def _certify(data_request: DataRequest) -> tuple[dict[str, Any], int]:
    """Fix the certificate's content and record its digest on the audit log (once: a resumed
    run reuses both). Returns the content and the audit entry's id."""
    with transaction.atomic():
        locked = DataRequest.objects.select_for_update().get(pk=data_request.pk)
        step = locked.steps.filter(name="certificate", status=StepStatus.DONE).first()
        # Reused unless the signing key changed meanwhile: the core names the key that signs.
        if step is not None and step.result["core"]["key"] == signing.public_key_text():
            return step.result["core"], int(step.result["entry"])
        core = _certificate_core(locked, timezone.now())
        entry = audit_record(
            action=CERTIFIED_ACTION,
            actor=OPERATOR,
            merchant_id=locked.merchant_public_id,
            target_type="data_request",
            target_id=locked.public_id,
            payload={"sha256": certificate_digest(core)},
        )
        _record(locked, "certificate", result={"core": core, "entry": entry.pk})
    return core, int(entry.pk)


def _prove(core: dict[str, Any], entry_id: int) -> dict[str, Any]:
    """The signed certificate: its content plus where the log holds it, with the proof."""
    audit = audit_inclusion(entry_id)
    if audit is None:
        raise AuditProofPendingError("the certification entry is not sealed yet")
    body = {**core, "audit": audit}
    certificate = {"certificate": body, "signature": signing.sign(body)}
    # Checked as an auditor will check it: a certificate that would not verify is a defect
    # to fix, never a document to hand out (the task fails loudly and the request stays open).
    problem = certificate_problem(certificate, trusted_key=str(core["key"]))
    if problem is not None:
        raise CertificateDefectError(f"the certificate would not verify: {problem}")
    return certificate


def _finish(data_request: DataRequest, certificate: dict[str, Any] | None = None) -> DataRequest:
    with transaction.atomic():
        locked = DataRequest.objects.select_for_update().get(pk=data_request.pk)
        if locked.status != DataRequestStatus.EXECUTING:
            return locked
        completed = (
            datetime.fromisoformat(certificate["certificate"]["completed_at"])
            if certificate
            else timezone.now()
        )
        locked.status = DataRequestStatus.COMPLETED
        locked.completed_at = completed
        locked.certificate = certificate
        locked.save(update_fields=["status", "completed_at", "certificate"])
        _audit(
            locked,
            "completed",
            days_used=_days_used(locked, completed),
            signature=(locked.certificate or {}).get("signature", "")[:86],
        )
    return locked


def data_requests_stalled(*, older_than: timedelta) -> list[int]:
    """Approved or executing requests untouched for `older_than`: a lost message or a worker
    that died; the beat sweep hands them to the execution task again (it resumes)."""
    cutoff = timezone.now() - older_than
    return list(
        DataRequest.objects.filter(
            status__in=[DataRequestStatus.APPROVED, DataRequestStatus.EXECUTING],
            approved_at__lt=cutoff,
        )
        .exclude(steps__updated_at__gte=cutoff)
        .values_list("pk", flat=True)
        .distinct()
    )


def data_request_execute(*, data_request_id: int) -> DataRequest | None:
    """Run (or resume) an approved request to completion. Raises ProcessorPendingError when a
    processor is unavailable: the task retries with backoff and resumes at that step."""
    data_request = _start(data_request_id)
    if data_request is None:
        return None
    subject = _subject(data_request)
    if data_request.type == DataRequestType.ERASURE:
        _tell_processors(data_request, subject)
        _erase(data_request, subject)
        return _finish(data_request, _prove(*_certify(data_request)))
    _count_export(data_request, subject)
    return _finish(data_request)


# --- Access export ----------------------------------------------------------------------------


def export_available(data_request: DataRequest, *, now: datetime | None = None) -> bool:
    """A completed access request's export can be downloaded for EXPORT_AVAILABLE_DAYS."""
    if data_request.type != DataRequestType.ACCESS or data_request.completed_at is None:
        return False
    until = data_request.completed_at + timedelta(days=settings.EXPORT_AVAILABLE_DAYS)
    return (now or timezone.now()) < until


def data_request_export(data_request: DataRequest) -> Iterator[str]:
    """The subject's data from every app as one JSON document (docs/data-export.schema.json),
    produced row by row so memory stays flat whatever the subject's history."""
    subject = _subject(data_request)
    head = {
        "$schema": EXPORT_SCHEMA_ID,
        "request": data_request.public_id,
        "subject": {"kind": subject.kind.value, "id": subject.reference},
        "generated_at": timezone.now().isoformat(),
    }
    yield json.dumps(head)[:-1] + ', "records": {'
    for index, handler in enumerate(personal_data.handlers(subject.kind)):
        yield ("," if index else "") + json.dumps(handler.label) + ": ["
        for row_index, row in enumerate(handler.rows(subject)):
            yield ("," if row_index else "") + json.dumps(row, default=str)
        yield "]"
    yield "}}"
