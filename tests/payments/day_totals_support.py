"""The oracle for the per-day payment totals: the same sums computed in Python from the rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date

from payments.models import Payment, PaymentDayTotal
from payments.state import PaymentStatus

Totals = dict[tuple[int, str, date], tuple[int, int, int]]


def totals_from_payments() -> Totals:
    """Gross, kept and count of succeeded payments per merchant, currency and UTC day."""
    sums: dict[tuple[int, str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = Payment.objects.filter(status=PaymentStatus.SUCCEEDED).values_list(
        "merchant_id", "currency", "created_at", "amount_captured", "net"
    )
    for merchant_id, currency, created_at, captured, net in rows:
        entry = sums[(merchant_id, currency, created_at.astimezone(UTC).date())]
        entry[0] += captured
        entry[1] += captured - net if net is not None else 0
        entry[2] += 1
    return {key: (gross, kept, count) for key, (gross, kept, count) in sums.items()}


def totals_stored() -> Totals:
    """The stored day totals, rows of zeros left out (they count nothing)."""
    return {
        (row.merchant_id, row.currency, row.day): (row.gross, row.kept, row.payment_count)
        for row in PaymentDayTotal.objects.all()
        if (row.gross, row.kept, row.payment_count) != (0, 0, 0)
    }
