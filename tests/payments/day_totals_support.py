"""The oracle for the per-day payment totals and new-customer counts: the same sums computed in
Python from the rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date

from payments.models import Customer, CustomerDayCount, Payment, PaymentDayTotal
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


def customer_counts_from_rows() -> dict[tuple[int, date], int]:
    """New customers per merchant and UTC day, counted in Python."""
    counts: dict[tuple[int, date], int] = defaultdict(int)
    for merchant_id, created_at in Customer.objects.values_list("merchant_id", "created_at"):
        counts[(merchant_id, created_at.astimezone(UTC).date())] += 1
    return dict(counts)


def customer_counts_stored() -> dict[tuple[int, date], int]:
    return {
        (row.merchant_id, row.day): row.customer_count
        for row in CustomerDayCount.objects.all()
        if row.customer_count
    }
