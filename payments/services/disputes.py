"""Answering a dispute: submit evidence, or accept the loss, at the processor that charged.

Both are once-only at the processor (it refuses a second submission), and both may lose their
answer after the processor acted. The caller (the dashboard's form token, the API's
Idempotency-Key) passes `resumed=True` when an earlier attempt under the same key reached the
processor; the dispute is then read back first and, if the earlier attempt took effect, only
recorded, never sent again. Processor keys are derived from the caller's key and the content
sent, so a resend of the same documents is answered from the processor's idempotency store.

Evidence arrives checked (`payments.dispute_evidence`): nothing here stores a document unless
the merchant asked to keep a copy, and audit entries name fields, types and sizes, never the
evidence's text or file names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from compliance.actors import Actor
from payments.dispute_evidence import EvidenceDocument
from payments.disputes import dispute_apply_state
from payments.exceptions import DisputeEvidenceError, DisputeStateError
from payments.gateways import gateway_for
from payments.gateways.base import DisputeGateway, DisputeState
from payments.models import Dispute, DisputeEvidenceFile, DisputeStatus, ProcessorAccount
from payments.services._common import audit, merchant_account

OPEN_STATUSES = (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.WARNING_NEEDS_RESPONSE)


def dispute_is_open(dispute: Dispute) -> bool:
    """True while the dispute takes evidence or a concession: awaiting a response, in time."""
    due = dispute.evidence_due_by
    return dispute.status in OPEN_STATUSES and (due is None or due > timezone.now())


def _processor_key(dispute: Dispute, key: str, *parts: str) -> str:
    """A processor idempotency key for one call of the submission `key` on `dispute`, bound
    to what it sends (a resend of other content gets another key instead of the processor's
    refusal). Callers' keys are hashed in: an API client's key never reaches the processor."""
    digest = hashlib.sha256("\x1f".join((key, *parts)).encode()).hexdigest()[:48]
    return f"{dispute.public_id}_{digest}"


def _dispute_gateway(dispute: Dispute) -> tuple[ProcessorAccount, DisputeGateway]:
    """The merchant's processor account and the gateway of the processor that charged (a
    dispute is answered where its payment was made), refusing a gateway without the dispute
    verbs rather than failing half-way."""
    gateway = gateway_for(dispute.payment)
    if not isinstance(gateway, DisputeGateway):
        raise DisputeStateError(
            "This dispute can only be answered in the payment processor's own dashboard.",
            code="dispute_processor_unsupported",
        )
    account, _ = merchant_account(dispute.merchant_id, dispute.payment.processor)
    return account, gateway


def _ensure_open(dispute: Dispute, action: str) -> None:
    if dispute_is_open(dispute):
        return
    if dispute.status in OPEN_STATUSES:
        raise DisputeStateError(f"The deadline to {action} this dispute has passed.")
    raise DisputeStateError(
        f"This dispute is {dispute.get_status_display().lower()}: it can no longer be answered."
    )


def _acted(state: DisputeState) -> bool:
    """The processor's dispute shows that an answer (evidence or concession) took effect."""
    return state.submission_count > 0 or state.status not in OPEN_STATUSES


def dispute_evidence_submit(
    *,
    dispute: Dispute,
    actor: Actor | None,
    request: HttpRequest | None,
    text: Mapping[str, str],
    documents: Sequence[EvidenceDocument],
    keep_copy: bool,
    key: str,
    resumed: bool = False,
    step_up: bool | None = None,
) -> Dispute:
    """Send `text` and `documents` to the processor and submit them for review; audited."""
    if not text and not documents:
        raise DisputeEvidenceError(
            "Give at least one piece of evidence: a text field or a document.", param="evidence"
        )
    if not resumed:
        _ensure_open(dispute, "answer")
    account, gateway = _dispute_gateway(dispute)
    if resumed:
        state = gateway.dispute_retrieve(
            account=account.processor_account_id, dispute=dispute.processor_dispute_id
        )
        if _acted(state):
            return _record_submission(
                dispute,
                state,
                actor=actor,
                request=request,
                text=text,
                documents=documents,
                file_ids={},
                keep_copy=keep_copy,
                step_up=step_up,
                recovered=True,
            )
    _ensure_open(dispute, "answer")
    gateway.ensure_available()
    file_ids: dict[str, str] = {}
    for document in documents:
        uploaded = gateway.dispute_evidence_file_upload(
            account=account.processor_account_id,
            # The field's name, not the merchant's file name: that stays with us.
            filename=f"{document.field}.{document.type}",
            content=document.stream(),
            key=_processor_key(dispute, key, "file", document.field, document.sha256),
        )
        file_ids[document.field] = uploaded.id
    state = gateway.dispute_evidence_submit(
        account=account.processor_account_id,
        dispute=dispute.processor_dispute_id,
        text=dict(text),
        files=file_ids,
        key=_processor_key(
            dispute, key, "submit", json.dumps(dict(text), sort_keys=True), json.dumps(file_ids)
        ),
    )
    return _record_submission(
        dispute,
        state,
        actor=actor,
        request=request,
        text=text,
        documents=documents,
        file_ids=file_ids,
        keep_copy=keep_copy,
        step_up=step_up,
        recovered=False,
    )


def _record_submission(
    dispute: Dispute,
    state: DisputeState,
    *,
    actor: Actor | None,
    request: HttpRequest | None,
    text: Mapping[str, str],
    documents: Sequence[EvidenceDocument],
    file_ids: Mapping[str, str],
    keep_copy: bool,
    step_up: bool | None,
    recovered: bool,
) -> Dispute:
    with transaction.atomic():
        updated = dispute_apply_state(payment=dispute.payment, state=state, actor=actor)
        if updated.evidence_submitted_at is not None:
            return updated  # recorded by an earlier attempt
        updated.evidence_submitted_at = timezone.now()
        updated.save(update_fields=["evidence_submitted_at", "updated_at"])
        DisputeEvidenceFile.objects.bulk_create(
            DisputeEvidenceFile(
                dispute=updated,
                field=document.field,
                filename=document.filename,
                content_type=document.content_type,
                size=document.size,
                sha256=document.sha256,
                processor_file_id=file_ids.get(document.field, ""),
                content=document.content if keep_copy else None,
            )
            for document in documents
        )
        audit(
            action="dispute.evidence_submit",
            merchant=updated.merchant,
            actor=actor,
            request=request,
            target_type="dispute",
            target_id=updated.public_id,
            payload={
                "payment": updated.payment.public_id,
                "text_fields": sorted(text),
                "files": [{"field": d.field, "type": d.type, "size": d.size} for d in documents],
                "copy_kept": keep_copy and bool(documents),
                "status": updated.status,
                # The answer of the first attempt was lost; this one found it had taken effect.
                "recovered": recovered,
            },
            step_up=step_up,
        )
    return updated


def dispute_accept(
    *,
    dispute: Dispute,
    actor: Actor | None,
    request: HttpRequest | None,
    key: str,
    resumed: bool = False,
    step_up: bool | None = None,
) -> Dispute:
    """Concede the dispute at the processor (lost at once, the amount stays withdrawn)."""
    if not resumed:
        _ensure_open(dispute, "accept")
    account, gateway = _dispute_gateway(dispute)
    state: DisputeState | None = None
    if resumed:
        found = gateway.dispute_retrieve(
            account=account.processor_account_id, dispute=dispute.processor_dispute_id
        )
        state = found if found.status not in OPEN_STATUSES else None
    if state is None:
        _ensure_open(dispute, "accept")
        state = gateway.dispute_accept(
            account=account.processor_account_id,
            dispute=dispute.processor_dispute_id,
            key=_processor_key(dispute, key, "accept"),
        )
    if state.status != DisputeStatus.LOST:
        # Answered meanwhile (evidence from elsewhere): show the dispute as it now is.
        moved = dispute_apply_state(payment=dispute.payment, state=state, actor=actor)
        raise DisputeStateError(
            f"This dispute is {moved.get_status_display().lower()}: it was not accepted."
        )
    with transaction.atomic():
        updated = dispute_apply_state(payment=dispute.payment, state=state, actor=actor)
        if updated.accepted_at is not None:
            return updated
        updated.accepted_at = timezone.now()
        updated.save(update_fields=["accepted_at", "updated_at"])
        audit(
            action="dispute.accept",
            merchant=updated.merchant,
            actor=actor,
            request=request,
            target_type="dispute",
            target_id=updated.public_id,
            payload={
                "payment": updated.payment.public_id,
                "amount": updated.amount,
                "currency": updated.currency,
                "status": updated.status,
                "recovered": resumed,
            },
            step_up=step_up,
        )
    return updated
