"""Gross, fees and net of payments and refunds, ready for the dashboard's templates.

Fees and net are null until the processor reports the balance transaction
(`payments.services.payouts`); then every value is shown in the payment's currency.
"""

from __future__ import annotations

from typing import Any

from payments.models import Payment
from payments.money import format_amount


def fee_display(payment: Payment) -> dict[str, str]:
    """`fee` (all fees), `processor_fee` (the processor's own part), `platform_fee` (the
    platform's part, empty when none) and `net`; all empty until reported."""
    if payment.fee is None or payment.net is None:
        return {"fee": "", "processor_fee": "", "platform_fee": "", "net": ""}
    currency = payment.currency
    return {
        "fee": format_amount(payment.fee, currency),
        "processor_fee": format_amount(payment.fee - (payment.platform_fee or 0), currency),
        "platform_fee": format_amount(payment.platform_fee, currency)
        if payment.platform_fee
        else "",
        "net": format_amount(payment.net, currency),
    }


def refund_rows(payment: Payment) -> list[dict[str, Any]]:
    """The payment's refunds, oldest first, with their amount, fee and net for display."""
    currency = payment.currency
    return [
        {
            "refund": refund,
            "amount": format_amount(refund.amount, currency),
            "fee": format_amount(refund.fee, currency) if refund.fee is not None else "",
            "net": format_amount(refund.net, currency) if refund.net is not None else "",
        }
        for refund in payment.refunds.order_by("created_at", "pk")
    ]
