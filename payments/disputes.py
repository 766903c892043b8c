"""Disputes: the processor's dispute object applied to ours, forward-only and audited.

Called by the `charge.dispute.*` event handlers (payments.event_handlers); the processor's
state machine decides, so a late or repeated event never moves a dispute back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from compliance.actors import Actor
from compliance.services import audit_record
from payments.gateways.base import DisputeState
from payments.models import Dispute, DisputeStatus, Payment

# A dispute moves needs_response -> under_review -> won/lost (warnings alike); never back.
_DISPUTE_RANK: dict[str, int] = {
    DisputeStatus.WARNING_NEEDS_RESPONSE: 0,
    DisputeStatus.NEEDS_RESPONSE: 0,
    DisputeStatus.WARNING_UNDER_REVIEW: 1,
    DisputeStatus.UNDER_REVIEW: 1,
    DisputeStatus.WARNING_CLOSED: 2,
    DisputeStatus.WON: 2,
    DisputeStatus.LOST: 2,
}


def dispute_apply_processor_state(
    *, payment: Payment, data: Mapping[str, Any], actor: Actor
) -> Dispute | None:
    """Create or move a dispute forward from a `charge.dispute.*` event's object; audited."""
    status = data.get("status")
    amount = data.get("amount")
    if status not in _DISPUTE_RANK or not isinstance(amount, int) or amount <= 0:
        raise ValueError("dispute object without a known status or a positive amount")
    due = (data.get("evidence_details") or {}).get("due_by")
    state = DisputeState(
        id=str(data["id"]),
        status=str(status),
        amount=amount,
        currency=str(data.get("currency") or ""),
        reason=str(data.get("reason") or ""),
        evidence_due_by=datetime.fromtimestamp(due, tz=UTC) if isinstance(due, int) else None,
    )
    return dispute_apply_state(payment=payment, state=state, actor=actor)


def dispute_apply_state(
    *, payment: Payment, state: DisputeState, actor: Actor | None, lock: bool = True
) -> Dispute:
    """Create or move a dispute forward from the gateway's `DisputeState`; audited.

    `lock=False` when the caller already holds the payment's lock in its transaction."""
    status, amount = state.status, state.amount
    if status not in _DISPUTE_RANK or amount <= 0 or not state.id:
        raise ValueError("dispute object without a known status or a positive amount")
    with transaction.atomic():
        # The payment lock serialises every change to this payment's disputes.
        locked_payment = (
            Payment.objects.select_for_update().select_related("merchant").get(pk=payment.pk)
            if lock
            else payment
        )
        dispute = Dispute.objects.select_for_update().filter(processor_dispute_id=state.id).first()
        previous = dispute.status if dispute is not None else ""
        if dispute is None:
            dispute = Dispute(
                merchant=locked_payment.merchant,
                payment=locked_payment,
                processor_dispute_id=state.id,
                currency=(state.currency or locked_payment.currency).lower(),
            )
        elif _DISPUTE_RANK[status] < _DISPUTE_RANK[dispute.status] or (
            _DISPUTE_RANK[dispute.status] == 2 and status != dispute.status
        ):
            return dispute
        dispute.status = status
        dispute.amount = amount
        dispute.reason = state.reason[:64]
        dispute.evidence_due_by = state.evidence_due_by
        dispute.save()
        if previous != status:
            audit_record(
                action="dispute.create" if not previous else "dispute.status_change",
                actor=actor,
                merchant_id=locked_payment.merchant.public_id,
                target_type="dispute",
                target_id=dispute.public_id,
                payload={
                    "payment": locked_payment.public_id,
                    "from": previous,
                    "to": status,
                    "amount": amount,
                    "currency": dispute.currency,
                },
            )
    return dispute
