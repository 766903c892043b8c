"""Capture and cancel of an authorised payment, at the processor that charged it.

Both are one processor call keyed by the payment's own row; an unknown outcome schedules a
reconciliation (see `payments.services.payments`), so a retry never captures or cancels twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from compliance.actors import Actor
from payments.exceptions import (
    InvalidPaymentRequestError,
    PaymentStateError,
    ProcessorConflictError,
    ProcessorOutcomeUnknownError,
)
from payments.gateways import gateway_for
from payments.gateways.base import Charge, PaymentGateway
from payments.models import Payment
from payments.money import format_amount
from payments.services._common import account_of, audit, schedule_payment_reconcile
from payments.services.platform_fees import platform_fee_prorated
from payments.services.sync import payment_apply_processor_state
from payments.state import CANCELABLE, PaymentStatus, is_settlement_declined


def _payment_act(
    *,
    payment: Payment,
    act: Callable[[PaymentGateway, str], Charge],
    action: str,
    payload: Callable[[Payment], dict[str, Any]],
    actor: Actor | None,
    request: HttpRequest | None,
    step_up: bool | None,
) -> Payment:
    """A capture or cancel at the processor that charged, then its answer and audit entry.

    `act(gateway, account id)` makes the one processor call. If its outcome is unknown the
    payment is reconciled: the row is the recovery point (its charge id and the key derived
    from it), and reconciliation reads the charge back and applies whatever the processor did.
    """
    gateway = gateway_for(payment)
    gateway.ensure_available()
    account = account_of(payment)
    try:
        charge = act(gateway, account.processor_account_id)
    except (ProcessorOutcomeUnknownError, ProcessorConflictError):
        schedule_payment_reconcile(payment)
        raise
    with transaction.atomic():
        result = payment_apply_processor_state(payment=payment, charge=charge, actor=actor)
        audit(
            action=action,
            merchant=result.merchant,
            actor=actor,
            request=request,
            target_type="payment",
            target_id=result.public_id,
            payload=payload(result),
            step_up=step_up,
        )
    return result


def payment_capture(
    *,
    payment: Payment,
    actor: Actor | None,
    amount: int | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> Payment:
    """Capture an authorised payment, all of it or `amount`."""
    payment.refresh_from_db()
    if payment.status != PaymentStatus.REQUIRES_CAPTURE:
        raise PaymentStateError(
            f"Only a payment that requires capture can be captured; this one is {payment.status}."
        )
    if amount is not None and not 0 < amount <= payment.amount_capturable:
        raise InvalidPaymentRequestError(
            "The capture amount must be positive and at most "
            f"{format_amount(payment.amount_capturable, payment.currency)}.",
            param="amount",
        )
    # A partial capture carries its share of the fee the charge asked for (the processor
    # would otherwise keep the whole fee, capped at what was captured); from the row alone,
    # so a resent capture sends the same fee under the same key.
    platform_fee = None
    if amount is not None and amount < payment.amount and payment.platform_fee_requested:
        platform_fee = platform_fee_prorated(
            requested=payment.platform_fee_requested, amount=payment.amount, captured=amount
        )
    return _payment_act(
        payment=payment,
        act=lambda gateway, account: gateway.charge_capture(
            account=account,
            charge=payment.processor_payment_id,
            amount=amount,
            key=f"{payment.public_id}_capture_{amount or 'full'}",
            platform_fee=platform_fee,
        ),
        action="payment.capture",
        payload=lambda done: {"amount": done.amount_captured, "currency": done.currency},
        actor=actor,
        request=request,
        step_up=step_up,
    )


def payment_cancel(
    *,
    payment: Payment,
    actor: Actor | None,
    reason: str | None = None,
    request: HttpRequest | None = None,
    step_up: bool | None = None,
) -> Payment:
    """Cancel a payment not yet captured (an authorisation is released)."""
    payment.refresh_from_db()
    if payment.status not in CANCELABLE:
        raise PaymentStateError(f"A {payment.status} payment cannot be canceled.")
    if is_settlement_declined(payment.status, payment.failure_code):
        # The processor already ended the sale (it refuses a void of it): nothing to release.
        raise PaymentStateError(
            f"{payment.get_processor_display()} declined to settle this payment: nothing to cancel."
        )
    if not payment.processor_payment_id:
        raise PaymentStateError("The payment has not reached the processor yet.")
    return _payment_act(
        payment=payment,
        act=lambda gateway, account: gateway.charge_cancel(
            account=account,
            charge=payment.processor_payment_id,
            key=f"{payment.public_id}_cancel",
            reason=reason,
        ),
        action="payment.cancel",
        payload=lambda _done: {"reason": reason or ""},
        actor=actor,
        request=request,
        step_up=step_up,
    )
