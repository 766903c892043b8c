"""Refunds: never more than was captured, sent once, and reconciled when an answer is lost.

A refund row is committed (pending, with its audit entry) before the processor hears of it, so
its key `<re id>_create` comes from our row; the processor's answers are mirrored by
`payments.services.sync.refund_apply_processor_state`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from compliance.actors import Actor
from payments.exceptions import (
    CardDeclinedError,
    InvalidPaymentRequestError,
    PaymentStateError,
    ProcessorConflictError,
    ProcessorOutcomeUnknownError,
    ProcessorRequestError,
    ProcessorUnavailableError,
    RefundAmountError,
)
from payments.gateways import gateway_for
from payments.gateways.base import RefundState
from payments.models import Payment, Refund, RefundStatus
from payments.money import format_amount
from payments.services._common import PROCESSOR_KEY_SAFE_AGE, account_of, audit
from payments.services.sync import refund_apply_processor_state
from payments.state import PaymentStatus, is_settlement_declined

logger = logging.getLogger(__name__)

_REFUND_RESERVING = (RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION, RefundStatus.SUCCEEDED)

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refundable_amount(payment: Payment) -> int:
    reserved = (
        Refund.objects.filter(payment=payment, status__in=_REFUND_RESERVING).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return max(0, payment.amount_captured - max(reserved, payment.amount_refunded))


def refund_create(
    *,
    payment: Payment,
    actor: Actor | None,
    amount: int | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    step_up: bool | None = None,
    on_created: Callable[[Refund], None] | None = None,
) -> Refund:
    """Refund all or part of what was captured; never more (checked under the payment's lock)."""
    if reason and reason not in REFUND_REASONS:
        raise InvalidPaymentRequestError("Unknown refund reason.", param="reason")
    gateway_for(payment).ensure_available()
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("merchant").get(pk=payment.pk)
        if is_settlement_declined(locked.status, locked.failure_code):
            # Braintree refuses a refund of it too; said here, before anything is sent.
            raise PaymentStateError(
                f"{locked.get_processor_display()} declined to settle this payment, so no money "
                "moved and there is nothing to refund."
            )
        if locked.status != PaymentStatus.SUCCEEDED:
            raise PaymentStateError(f"A {locked.status} payment cannot be refunded.")
        available = refundable_amount(locked)
        amount = available if amount is None else amount
        if amount <= 0 or amount > available:
            raise RefundAmountError(
                f"The refund of {format_amount(max(amount, 0), locked.currency)} is more than "
                f"the {format_amount(available, locked.currency)} left to refund."
                if amount > 0
                else "The refund amount must be positive.",
                param="amount",
            )
        refund = Refund.objects.create(
            merchant=locked.merchant,
            payment=locked,
            amount=amount,
            currency=locked.currency,
            reason=reason,
            status=RefundStatus.PENDING,
        )
        if on_created is not None:
            on_created(refund)
        audit(
            action="refund.create",
            merchant=locked.merchant,
            actor=actor,
            request=request,
            target_type="refund",
            target_id=refund.public_id,
            payload={"payment": locked.public_id, "amount": amount, "currency": locked.currency},
            step_up=step_up,
        )
    return refund_submit(refund=refund)


def refund_submit(*, refund: Refund, schedule_reconcile: bool = True) -> Refund:
    """Send a pending refund to the processor; safe to repeat (key from the refund row)."""
    payment = refund.payment
    account = account_of(payment)
    try:
        data = gateway_for(payment).refund_create(
            account=account.processor_account_id,
            charge=payment.processor_payment_id,
            amount=refund.amount,
            key=f"{refund.public_id}_create",
            reference=refund.public_id,
            reason=refund.reason or None,
        )
    except (ProcessorRequestError, CardDeclinedError, ProcessorUnavailableError) as exc:
        refund_apply_processor_state(
            refund=refund,
            status=RefundStatus.FAILED,
            processor_refund_id="",
            failure_reason=exc.code,
        )
        raise
    except (ProcessorOutcomeUnknownError, ProcessorConflictError):
        # The refund may exist: it stays pending with its key and is reconciled, never resent
        # under another key.
        if schedule_reconcile:
            from payments.tasks import refund_reconcile_enqueue

            transaction.on_commit(lambda: refund_reconcile_enqueue(refund.pk), robust=True)
        raise
    return refund_apply_processor_state(
        refund=refund,
        status=data.status,
        processor_refund_id=data.id,
        failure_reason=data.failure_reason,
    )


def refund_resume(*, refund: Refund) -> Refund:
    """Continue an interrupted refund request: find what the processor made of it, else resend
    it with the refund's own processor key (`refund_reconcile`)."""
    refund.refresh_from_db()
    if refund.status == RefundStatus.PENDING and not refund.processor_refund_id:
        gateway_for(refund.payment).ensure_available()
        return refund_reconcile(refund=refund)
    return refund


def refund_reconcile(*, refund: Refund) -> Refund:
    """Settle a pending refund from the processor: read it back, find it, or resend it.

    A refund we know the id of is read back (the processor may have completed it without
    a webhook reaching us). One whose create answer was lost is looked up by the metadata
    naming our row; only when the processor has none is it resent with the refund's own key.
    """
    refund.refresh_from_db()
    if refund.status not in (RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION):
        return refund
    account = account_of(refund.payment)
    gateway = gateway_for(refund.payment)
    if refund.processor_refund_id:
        data: RefundState | None = gateway.refund_retrieve(
            account=account.processor_account_id, refund=refund.processor_refund_id
        )
    else:
        data = gateway.refund_find(
            account=account.processor_account_id,
            charge=refund.payment.processor_payment_id,
            reference=refund.public_id,
        )
    if data is not None:
        return refund_apply_processor_state(
            refund=refund,
            status=data.status,
            processor_refund_id=data.id,
            failure_reason=data.failure_reason,
        )
    if timezone.now() - refund.created_at > PROCESSOR_KEY_SAFE_AGE:
        logger.error("Refund %s needs manual reconciliation", refund.public_id)
        return refund
    try:
        return refund_submit(refund=refund, schedule_reconcile=False)
    except (ProcessorRequestError, CardDeclinedError):
        refund.refresh_from_db()
        return refund
