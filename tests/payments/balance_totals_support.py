"""The oracle for the balance: the mirrored balance summed from every balance transaction, as
`balance_by_processor` did before the running totals, and the stored totals to compare."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from itertools import count

from django.db.models import Count, Q, Sum

from accounts.models import Merchant
from payments.models import BalanceTotal, BalanceTransaction, BalanceTransactionType

Split = dict[tuple[str, str], tuple[int, int]]  # (processor, currency) -> available, pending
_numbers = count(1)


def balance_transaction_create(
    *,
    merchant: Merchant,
    net: int,
    available_on: datetime,
    currency: str = "gbp",
    processor: str = "stripe",
) -> BalanceTransaction:
    """A charge of `net` after a fee of 30, or a refund when `net` is negative."""
    kind = BalanceTransactionType.CHARGE if net >= 0 else BalanceTransactionType.REFUND
    return BalanceTransaction.objects.create(
        merchant=merchant,
        processor=processor,
        processor_transaction_id=f"txn_oracle_{next(_numbers)}",
        type=kind,
        amount=net + 30,
        fee=30,
        net=net,
        currency=currency,
        available_on=available_on,
        processor_created_at=available_on,
    )


def balance_split_from_rows(merchant: Merchant, now: datetime) -> Split:
    """Available and pending per processor and currency, summed over every row."""
    rows = (
        BalanceTransaction.objects.filter(merchant=merchant)
        .values("processor", "currency")
        .annotate(
            available=Sum("net", filter=Q(available_on__lte=now)),
            pending=Sum("net", filter=Q(available_on__gt=now)),
        )
    )
    return {
        (row["processor"], row["currency"]): (int(row["available"] or 0), int(row["pending"] or 0))
        for row in rows
    }


def totals_from_rows() -> dict[tuple[int, str, str], tuple[int, int]]:
    sums: dict[tuple[int, str, str], tuple[int, int]] = defaultdict(lambda: (0, 0))
    rows = BalanceTransaction.objects.values("merchant_id", "processor", "currency").annotate(
        net_sum=Sum("net"), rows=Count("id")
    )
    for row in rows:
        sums[(row["merchant_id"], row["processor"], row["currency"])] = (
            int(row["net_sum"]),
            int(row["rows"]),
        )
    return dict(sums)


def totals_stored() -> dict[tuple[int, str, str], tuple[int, int]]:
    """The stored totals, rows of zeros left out (they count nothing)."""
    return {
        (row.merchant_id, row.processor, row.currency): (row.net, row.transaction_count)
        for row in BalanceTotal.objects.all()
        if row.net or row.transaction_count
    }
