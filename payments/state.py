"""Ledgerline's payment and refund statuses, and the machine: which transitions a payment may
make, and never backwards.

`PaymentStatus` is the product's own vocabulary (its values are public API: the `status` the
API, CSV and webhooks-facing pages emit). It was taken from Stripe's PaymentIntent lifecycle and
keeps those names; every gateway maps its processor's states onto it (docs/payments.md,
"Processor boundary").

Processor objects and webhooks arrive late, duplicated and out of order; `transition_allowed`
is the single rule that decides whether a status we are told about may replace the one we hold.
"""

from __future__ import annotations

from django.db import models


class PaymentStatus(models.TextChoices):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
    REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
    REQUIRES_ACTION = "requires_action", "Requires action"
    PROCESSING = "processing", "Processing"
    REQUIRES_CAPTURE = "requires_capture", "Requires capture"
    CANCELED = "canceled", "Canceled"
    SUCCEEDED = "succeeded", "Succeeded"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REQUIRES_ACTION = "requires_action", "Requires action"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


S = PaymentStatus
TERMINAL = frozenset({S.SUCCEEDED, S.CANCELED})

# Stripe's PaymentIntent lifecycle. A failed attempt (decline, failed 3-D Secure, failed async
# payment) returns the intent to requires_payment_method; that is the only move "down".
_ALLOWED: dict[str, frozenset[str]] = {
    S.REQUIRES_PAYMENT_METHOD: frozenset(
        {S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION, S.PROCESSING, S.REQUIRES_CAPTURE} | TERMINAL
    ),
    S.REQUIRES_CONFIRMATION: frozenset(
        {S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_ACTION, S.PROCESSING, S.REQUIRES_CAPTURE} | TERMINAL
    ),
    S.REQUIRES_ACTION: frozenset(
        {S.REQUIRES_PAYMENT_METHOD, S.PROCESSING, S.REQUIRES_CAPTURE} | TERMINAL
    ),
    S.PROCESSING: frozenset({S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_CAPTURE} | TERMINAL),
    S.REQUIRES_CAPTURE: frozenset({S.PROCESSING} | TERMINAL),
    S.SUCCEEDED: frozenset(),
    S.CANCELED: frozenset(),
}

CAPTURABLE = frozenset({S.REQUIRES_CAPTURE})
# Stripe lets an intent be canceled in these states only.
CANCELABLE = frozenset(
    {
        S.REQUIRES_PAYMENT_METHOD,
        S.REQUIRES_CONFIRMATION,
        S.REQUIRES_ACTION,
        S.REQUIRES_CAPTURE,
    }
)
# Funds have moved only once the payment succeeded.
REFUNDABLE = frozenset({S.SUCCEEDED})


def transition_allowed(current: str, new: str) -> bool:
    """True when `new` may replace `current`; the same status is allowed (amounts may move)."""
    if current == new:
        return True
    return new in _ALLOWED.get(current, frozenset())


def is_terminal(status: str) -> bool:
    return status in TERMINAL


# A declined attempt leaves the intent in requires_payment_method with a failure code; people
# call that a failed payment, and the dashboard's list, badge and filter say "Failed".
FAILED = "failed"
FAILED_LABEL = "Failed"


# The processor declined to settle a sale we held as succeeded: the money never moved. The
# payment is failed (requires_payment_method with this failure code), and for good: the same
# sale can never settle after that, so a late "settled" must not bring it back
# (`payments.services.settlement`).
SETTLEMENT_DECLINED = "settlement_declined"


def is_settlement_declined(status: str, failure_code: str) -> bool:
    """Whether the processor declined this payment at settlement (a final failure)."""
    return status == S.REQUIRES_PAYMENT_METHOD and failure_code == SETTLEMENT_DECLINED


def status_for_people(status: str, failure_code: str) -> tuple[str, str]:
    """(status key, label) as the dashboard shows a payment: declined ones read "Failed"."""
    if status == S.REQUIRES_PAYMENT_METHOD and failure_code:
        return FAILED, FAILED_LABEL
    return status, S(status).label if status in S.values else status
