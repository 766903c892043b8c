"""Processor sync: mirroring what the processor says onto our payments and refunds.

The one entry point for confirm / capture / cancel answers, reconciliation and the inbound
event handlers alike: rows are locked, only forward transitions are applied (the status
machine in `payments.state`), captured and refunded amounts never shrink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from compliance.actors import Actor
from payments.gateways.base import Charge
from payments.models import Payment, PaymentLink, Refund, RefundStatus
from payments.services._common import audit
from payments.state import PaymentStatus, is_settlement_declined, transition_allowed

logger = logging.getLogger(__name__)

_REFUND_FINAL = {RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED}


def payment_apply_processor_state(
    *,
    payment: Payment,
    charge: Charge,
    actor: Actor | None = None,
    on_applied: Callable[[Payment], None] | None = None,
) -> Payment:
    """Mirror the processor's charge onto its payment: forward moves only, amounts never shrink.

    The entry point for confirm/capture/cancel answers, reconciliation and webhook handlers.
    Returns the (possibly unchanged) locked row; `on_applied(row)` runs in the same
    transaction whether or not the row changed.
    """
    with transaction.atomic():
        locked = _payment_apply_locked(payment=payment, charge=charge, actor=actor)
        if on_applied is not None:
            on_applied(locked)
    return locked


def payments_for_update() -> QuerySet[Payment]:
    """Payments to lock for a state change, their merchant joined for the audit entry."""
    # `of=("self",)`: locking the merchant's row too would queue every concurrent payment of
    # the merchant behind this one.
    return Payment.objects.select_for_update(of=("self",)).select_related("merchant")


def _payment_apply_locked(*, payment: Payment, charge: Charge, actor: Actor | None) -> Payment:
    """The body of `payment_apply_processor_state`, inside its transaction."""
    locked = payments_for_update().get(pk=payment.pk)
    return payment_apply_to_locked(locked=locked, charge=charge, actor=actor)


# What mirroring a charge writes; the rest of the row is ours and left as it is.
_PROCESSOR_STATE_FIELDS = [
    "status",
    "processor_payment_id",
    "processor_charge_id",
    "amount_captured",
    "amount_refunded",
    "amount_capturable",
    "card_brand",
    "card_last4",
    "card_exp_month",
    "card_exp_year",
    "card_fingerprint",
    "card_country",
    "failure_code",
    "decline_code",
    "failure_message",
    "next_action_url",
    "updated_at",
]


def payment_apply_to_locked(*, locked: Payment, charge: Charge, actor: Actor | None) -> Payment:
    """`payment_apply_processor_state` for a row the caller already holds.

    `locked` must come from `payments_for_update()` in the caller's open transaction. The
    webhook handlers find and lock the payment in one query this way, and apply it without a
    savepoint: their transaction is the event's.
    """
    if locked.processor_payment_id and charge.id != locked.processor_payment_id:
        logger.error(
            "Charge %s does not belong to payment %s; ignored", charge.id, locked.public_id
        )
        return locked
    if charge.status is None:
        logger.warning("Charge %s has a status the gateway does not know", charge.id)
        return locked
    if is_settlement_declined(locked.status, locked.failure_code):
        # requires_payment_method may move on in general (a new attempt), but this sale can
        # never settle after its settlement was declined: a late "settled" is stale.
        logger.info(
            "Payment %s was declined at settlement; %s ignored", locked.public_id, charge.status
        )
        return locked
    if not transition_allowed(locked.status, charge.status):
        logger.info(
            "Stale state for %s: %s -> %s ignored",
            locked.public_id,
            locked.status,
            charge.status,
        )
        return locked
    previous = locked.status
    locked.status = charge.status
    locked.processor_payment_id = charge.id
    if charge.charge_id:
        locked.processor_charge_id = charge.charge_id
    captured = max(locked.amount_captured, min(charge.amount_received, locked.amount))
    locked.amount_captured = captured
    locked.amount_refunded = min(max(locked.amount_refunded, charge.amount_refunded), captured)
    locked.amount_capturable = (
        min(charge.amount_capturable, locked.amount)
        if charge.status == PaymentStatus.REQUIRES_CAPTURE
        else 0
    )
    if charge.card is not None:
        locked.card_brand = charge.card.brand[:32]
        locked.card_last4 = charge.card.last4[:4]
        locked.card_exp_month = charge.card.exp_month
        locked.card_exp_year = charge.card.exp_year
        locked.card_fingerprint = charge.card.fingerprint[:64]
        locked.card_country = charge.card.country[:2]
    if charge.status == PaymentStatus.REQUIRES_PAYMENT_METHOD:
        locked.failure_code = charge.failure_code[:64]
        locked.decline_code = charge.decline_code[:64]
        locked.failure_message = charge.failure_message[:500]
    elif charge.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE):
        locked.failure_code = locked.decline_code = locked.failure_message = ""
    locked.next_action_url = (
        charge.next_action_url if charge.status == PaymentStatus.REQUIRES_ACTION else ""
    )
    locked.save(update_fields=_PROCESSOR_STATE_FIELDS)
    if previous != locked.status:
        audit(
            action="payment.status_change",
            merchant=locked.merchant,
            actor=actor or Actor.system("payments.sync"),
            request=None,
            target_type="payment",
            target_id=locked.public_id,
            payload={"from": previous, "to": locked.status},
        )
        _payment_link_settle(locked)
    return locked


def _payment_link_settle(payment: Payment) -> None:
    """A single-use link is used up once its payment is authorised or paid."""
    if payment.payment_link_id is None or payment.status not in (
        PaymentStatus.SUCCEEDED,
        PaymentStatus.REQUIRES_CAPTURE,
        PaymentStatus.PROCESSING,
    ):
        return
    PaymentLink.objects.filter(
        pk=payment.payment_link_id, reusable=False, completed_at__isnull=True
    ).update(completed_at=timezone.now(), active=False)


def refund_apply_processor_state(
    *, refund: Refund, status: str | None, processor_refund_id: str, failure_reason: str = ""
) -> Refund:
    """Mirror a processor refund: final states are never left; a success counts once.

    `status` is a `RefundStatus` (None: the gateway did not know the processor's)."""
    if status not in RefundStatus.values:
        logger.warning("Unknown refund status %r for %s", status, refund.public_id)
        return refund
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        if locked.status in _REFUND_FINAL and locked.status != status:
            return locked
        previous = locked.status
        locked.status = status
        if processor_refund_id and not locked.processor_refund_id:
            locked.processor_refund_id = processor_refund_id
        locked.failure_reason = failure_reason[:64]
        locked.save()
        if previous != RefundStatus.SUCCEEDED and status == RefundStatus.SUCCEEDED:
            succeeded = (
                Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).aggregate(
                    total=Sum("amount")
                )["total"]
                or 0
            )
            payment.amount_refunded = min(
                max(payment.amount_refunded, succeeded), payment.amount_captured
            )
            payment.save(update_fields=["amount_refunded", "updated_at"])
        if previous != status:
            audit(
                action="refund.status_change",
                merchant=payment.merchant,
                actor=Actor.system("payments.sync"),
                request=None,
                target_type="refund",
                target_id=locked.public_id,
                payload={"from": previous, "to": status},
                outcome="failure" if status == RefundStatus.FAILED else "success",
            )
    return locked
