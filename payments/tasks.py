"""Celery tasks for payments: thin wrappers taking row ids and calling one service each."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from payments.exceptions import ProcessorOutcomeUnknownError, ProcessorUnavailableError
from payments.models import Payment, Refund, RefundStatus
from payments.state import PaymentStatus

logger = logging.getLogger(__name__)

RECONCILE_DELAY_SECONDS = 5
# Payments left unsettled this long are swept again (a lost task, a broker outage).
STUCK_AFTER = timedelta(minutes=2)
# A payment still waiting to be confirmed this long lost its request (a crash before or during
# the processor call): resent with its own key, which replays rather than charges again, so the
# dashboard shows the processor's outcome within a minute (with beat's 20 s sweep).
UNCONFIRMED_AFTER = timedelta(seconds=30)
_RETRYABLE = (ProcessorUnavailableError, ProcessorOutcomeUnknownError)


@shared_task(acks_late=True, max_retries=8)
def payment_reconcile(payment_id: int) -> str:
    """Ask the processor what became of a payment whose outcome we never saw, and settle it."""
    from payments.services import payment_reconcile as reconcile

    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        return "missing"
    try:
        return reconcile(payment=payment).status
    except _RETRYABLE as exc:
        if payment_reconcile.request.is_eager:
            # Inline (no worker): leave it to the sweep rather than blocking the caller.
            logger.warning("Reconciliation of %s deferred: %s", payment.public_id, exc.code)
            return "deferred"
        retries = payment_reconcile.request.retries
        raise payment_reconcile.retry(countdown=min(600, 5 * 2**retries), exc=exc) from exc


@shared_task(acks_late=True, max_retries=8)
def refund_reconcile(refund_id: int) -> str:
    from payments.services import refund_reconcile as reconcile

    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None:
        return "missing"
    try:
        return reconcile(refund=refund).status
    except _RETRYABLE as exc:
        if refund_reconcile.request.is_eager:
            logger.warning("Reconciliation of %s deferred: %s", refund.public_id, exc.code)
            return "deferred"
        retries = refund_reconcile.request.retries
        raise refund_reconcile.retry(countdown=min(600, 5 * 2**retries), exc=exc) from exc


@shared_task
def payments_reconcile_stuck() -> int:
    """Beat: re-enqueue payments and refunds whose reconciliation task was lost."""
    now = timezone.now()
    cutoff = now - STUCK_AFTER
    payment_ids = list(
        Payment.objects.filter(
            Q(status=PaymentStatus.PROCESSING, updated_at__lt=cutoff)
            | Q(
                status=PaymentStatus.REQUIRES_CONFIRMATION,
                updated_at__lt=now - UNCONFIRMED_AFTER,
            )
        ).values_list("pk", flat=True)[:500]
    )
    refund_ids = list(
        Refund.objects.filter(status=RefundStatus.PENDING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    for pk in payment_ids:
        payment_reconcile_enqueue(pk)
    for pk in refund_ids:
        refund_reconcile_enqueue(pk)
    return len(payment_ids) + len(refund_ids)


def payment_reconcile_enqueue(payment_id: int) -> None:
    """Enqueue after commit; a broker outage is logged and left to the stuck sweep."""
    try:
        payment_reconcile.apply_async(args=(payment_id,), countdown=RECONCILE_DELAY_SECONDS)
    except OperationalError:
        logger.warning("Broker unavailable; payment %s left to the sweep", payment_id)


def refund_reconcile_enqueue(refund_id: int) -> None:
    try:
        refund_reconcile.apply_async(args=(refund_id,), countdown=RECONCILE_DELAY_SECONDS)
    except OperationalError:
        logger.warning("Broker unavailable; refund %s left to the sweep", refund_id)
