"""Rebuilding `PaymentDayTotal` from the payments, and checking that it is exact.

The totals are kept by database triggers (`payments.day_total_triggers`); a rebuild is for
after restoring data with triggers disabled, or to check them
(`manage.py rebuild_payment_day_totals [--check]`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date

from django.db import connections, router, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from payments.day_total_triggers import PAYMENTS_TABLE
from payments.models import Payment, PaymentDayTotal
from payments.state import PaymentStatus

Key = tuple[str, date]  # currency, day
Figures = tuple[int, int, int]  # gross, kept, payment_count


@dataclass(frozen=True)
class DayTotalDifference:
    """A stored day total that differed from its payments (zeros where a row was missing)."""

    merchant: str  # the merchant's public id
    currency: str
    day: date
    stored: Figures
    expected: Figures


@dataclass
class RebuildReport:
    merchants: int = 0
    days: int = 0  # day totals with payments, over every merchant checked
    differences: list[DayTotalDifference] = field(default_factory=list)


def day_totals_expected(*, merchant_id: int, using: str | None = None) -> dict[Key, Figures]:
    """The merchant's day totals computed from its payments: the figures the triggers keep."""
    rows = (
        Payment.objects.using(using)
        .filter(merchant_id=merchant_id, status=PaymentStatus.SUCCEEDED)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("currency", "day")
        .annotate(
            gross=Sum("amount_captured"),
            kept=Sum(F("amount_captured") - F("net"), filter=Q(net__isnull=False)),
            payment_count=Count("created_at"),
        )
        .order_by()
    )
    return {
        (row["currency"], row["day"]): (
            int(row["gross"] or 0),
            int(row["kept"] or 0),
            int(row["payment_count"]),
        )
        for row in rows
    }


def day_totals_stored(*, merchant_id: int, using: str | None = None) -> dict[Key, Figures]:
    """The merchant's day totals as stored, rows of zeros left out (nothing counts there)."""
    rows = PaymentDayTotal.objects.using(using).filter(merchant_id=merchant_id)
    return {
        (row.currency, row.day): (row.gross, row.kept, row.payment_count)
        for row in rows
        if (row.gross, row.kept, row.payment_count) != (0, 0, 0)
    }


def _lock_payment_writes(using: str) -> None:
    """Wait for every transaction that wrote payments, and hold off new ones until commit:
    otherwise a writer that committed between the recount and its replacement would be lost
    (its own increment overwritten). SQLite writers already take turns."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {PAYMENTS_TABLE} IN SHARE MODE")


def _rebuild_merchant(
    merchant: Merchant, *, using: str, repair: bool
) -> tuple[int, list[DayTotalDifference]]:
    with transaction.atomic(using=using):
        _lock_payment_writes(using)
        expected = day_totals_expected(merchant_id=merchant.pk, using=using)
        stored = day_totals_stored(merchant_id=merchant.pk, using=using)
        differences = [
            DayTotalDifference(
                merchant=merchant.public_id,
                currency=currency,
                day=day,
                stored=stored.get((currency, day), (0, 0, 0)),
                expected=expected.get((currency, day), (0, 0, 0)),
            )
            for currency, day in sorted(expected.keys() | stored.keys())
            if stored.get((currency, day)) != expected.get((currency, day))
        ]
        if repair:
            totals = PaymentDayTotal.objects.using(using).filter(merchant=merchant)
            # Rows of zeros go too: they only remember days whose payments stopped counting.
            totals.filter(gross=0, kept=0, payment_count=0).delete()
            for difference in differences:
                gross, kept, payment_count = difference.expected
                if difference.expected == (0, 0, 0):
                    totals.filter(currency=difference.currency, day=difference.day).delete()
                    continue
                totals.update_or_create(
                    merchant=merchant,
                    currency=difference.currency,
                    day=difference.day,
                    defaults={"gross": gross, "kept": kept, "payment_count": payment_count},
                )
            if differences:
                audit_record(
                    action="payments.day_totals_rebuilt",
                    actor=Actor.system("rebuild_payment_day_totals"),
                    merchant_id=merchant.public_id,
                    target_type="merchant",
                    target_id=merchant.public_id,
                    payload={"days_corrected": len(differences), "days": len(expected)},
                )
    return len(expected), differences


def day_totals_rebuild(
    *,
    merchants: Iterable[Merchant] | None = None,
    repair: bool = True,
    progress: Callable[[int], None] | None = None,
) -> RebuildReport:
    """Recompute every day total of `merchants` (all by default) from their payments.

    With `repair` (the default) wrong, missing and empty rows are corrected, one merchant per
    transaction, each correction audited; without it nothing is written. Either way payment
    writes wait while one merchant is recounted (about a second per million payments on
    PostgreSQL), so that what is compared is one consistent state.
    """
    using = router.db_for_write(PaymentDayTotal)
    chosen = merchants if merchants is not None else Merchant.objects.using(using).order_by("pk")
    report = RebuildReport()
    for merchant in chosen:
        days, differences = _rebuild_merchant(merchant, using=using, repair=repair)
        report.merchants += 1
        report.days += days
        report.differences.extend(differences)
        if progress is not None:
            progress(1)
    return report
