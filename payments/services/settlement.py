"""A sale the processor declined to settle: the one way a succeeded payment becomes failed.

Braintree can report `settlement_declined` for a sale already submitted for settlement, which
Ledgerline holds as succeeded (the money looked committed). The money never moved, so the
payment must stop counting as paid: no gross volume, no pending balance, no refund, and a
merchant told not to ship.

`payments.state` keeps succeeded final for everything else (late, duplicated or out-of-order
processor states never move a payment back), so this is not a transition of that machine but
its own narrow service, called only by the processor's settlement-declined fact:

- the payment becomes `requires_payment_method` with failure code `settlement_declined` (the
  dashboard's "Failed"; public status values are unchanged);
- `amount_captured` and `amount_refunded` become 0: nothing was captured. The day totals and
  the Braintree pending balance count succeeded payments only, so the status alone takes the
  amount out of them (the day-total triggers subtract the row's old contribution); zeroing
  the amount keeps the API and CSV export from showing money that never arrived. The audit
  entry keeps what had been recorded as captured;
- it is idempotent (a replayed notification finds the payment already declined and changes
  and audits nothing) and final: `payment_apply_to_locked` ignores any later state of the sale.
"""

from __future__ import annotations

import logging

from compliance.actors import Actor
from payments.models import Payment
from payments.services._common import audit
from payments.state import SETTLEMENT_DECLINED, PaymentStatus, is_settlement_declined

logger = logging.getLogger(__name__)

# What the merchant reads on the payment page and in the API; {processor} names who declined.
SETTLEMENT_DECLINED_MESSAGE = (
    "{processor} could not settle this payment, so the money did not move. Do not ship the "
    "order; ask the customer to pay again."
)


def payment_settlement_decline(*, locked: Payment, charge_id: str, actor: Actor) -> bool:
    """Mark a succeeded payment failed because its processor declined to settle it.

    `locked` must come from `payments_for_update()` in the caller's open transaction (the
    event's), which also holds the audit entry. Returns True when the payment changed; a
    payment already declined at settlement, or in any state but succeeded, is left as it is.
    """
    if locked.processor_payment_id and charge_id != locked.processor_payment_id:
        logger.error(
            "Settlement decline of %s does not belong to payment %s; ignored",
            charge_id,
            locked.public_id,
        )
        return False
    if is_settlement_declined(locked.status, locked.failure_code):
        return False
    if locked.status != PaymentStatus.SUCCEEDED:
        # Only a captured sale is settled; anything else would be a processor error or an
        # order we cannot follow. Said loudly, changed nothing.
        logger.warning(
            "Settlement declined for payment %s, which is %s; left as it is",
            locked.public_id,
            locked.status,
        )
        return False
    previous_captured = locked.amount_captured
    locked.status = PaymentStatus.REQUIRES_PAYMENT_METHOD
    locked.failure_code = SETTLEMENT_DECLINED
    locked.decline_code = ""
    locked.failure_message = SETTLEMENT_DECLINED_MESSAGE.format(
        processor=locked.get_processor_display()
    )
    locked.amount_captured = 0
    locked.amount_refunded = 0
    locked.amount_capturable = 0
    locked.save(
        update_fields=[
            "status",
            "failure_code",
            "decline_code",
            "failure_message",
            "amount_captured",
            "amount_refunded",
            "amount_capturable",
            "updated_at",
        ]
    )
    audit(
        action="payment.status_change",
        merchant=locked.merchant,
        actor=actor,
        request=None,
        target_type="payment",
        target_id=locked.public_id,
        payload={
            "from": PaymentStatus.SUCCEEDED,
            "to": locked.status,
            "reason": SETTLEMENT_DECLINED,
            "amount_captured_before": previous_captured,
            "currency": locked.currency,
        },
        outcome="failure",
    )
    return True
