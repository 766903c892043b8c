"""Rebuilding `PaymentDayTotal` and `CustomerDayCount` from the payments and customers, and
checking that they are exact.

Both are kept by database triggers (`payments.day_total_triggers`); a rebuild is for after
restoring data with triggers disabled, or to check them
(`manage.py rebuild_payment_day_totals [--check]`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from payments import day_total_triggers
from payments.day_total_triggers import CUSTOMERS_TABLE, PAYMENTS_TABLE
from payments.models import Customer, CustomerDayCount, Payment, PaymentDayTotal
from payments.state import PaymentStatus

Key = tuple[str, date]  # currency, day
Figures = tuple[int, ...]  # gross, kept, payment_count; or customer_count
PAYMENTS = "payments"
CUSTOMERS = "customers"


@dataclass(frozen=True)
class DayTotalDifference:
    """A stored day total that differed from its rows (zeros where a row was missing): of
    payments (`currency`, figures gross / kept / count) or of new customers (currency "",
    figures the count)."""

    kind: str  # PAYMENTS | CUSTOMERS
    merchant: str  # the merchant's public id
    currency: str
    day: date
    stored: Figures
    expected: Figures


@dataclass
class RebuildReport:
    merchants: int = 0
    days: int = 0  # day totals with payments, over every merchant checked
    customer_days: int = 0  # days with new customers, likewise
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


def customer_counts_expected(*, merchant_id: int, using: str | None = None) -> dict[date, int]:
    """The merchant's new customers per UTC day, counted from its customers."""
    rows = (
        Customer.objects.using(using)
        .filter(merchant_id=merchant_id)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(customer_count=Count("created_at"))
        .order_by()
    )
    return {row["day"]: int(row["customer_count"]) for row in rows}


def customer_counts_stored(*, merchant_id: int, using: str | None = None) -> dict[date, int]:
    """The merchant's stored new-customer counts, days of zero left out."""
    rows = CustomerDayCount.objects.using(using).filter(merchant_id=merchant_id)
    return {row.day: row.customer_count for row in rows if row.customer_count}


def _lock_writes(using: str) -> None:
    """Wait for every transaction that wrote payments or customers, and hold off new ones
    until commit: otherwise a writer that committed between the recount and its replacement
    would be lost (its own increment overwritten). SQLite writers already take turns."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {PAYMENTS_TABLE}, {CUSTOMERS_TABLE} IN SHARE MODE")


def _customer_differences(
    merchant: Merchant, *, using: str, repair: bool
) -> tuple[int, list[DayTotalDifference]]:
    expected = customer_counts_expected(merchant_id=merchant.pk, using=using)
    stored = customer_counts_stored(merchant_id=merchant.pk, using=using)
    differences = [
        DayTotalDifference(
            kind=CUSTOMERS,
            merchant=merchant.public_id,
            currency="",
            day=day,
            stored=(stored.get(day, 0),),
            expected=(expected.get(day, 0),),
        )
        for day in sorted(expected.keys() | stored.keys())
        if stored.get(day) != expected.get(day)
    ]
    if repair:
        counts = CustomerDayCount.objects.using(using).filter(merchant=merchant)
        counts.filter(customer_count=0).delete()
        for difference in differences:
            if difference.expected == (0,):
                counts.filter(day=difference.day).delete()
                continue
            counts.update_or_create(
                merchant=merchant,
                day=difference.day,
                defaults={"customer_count": difference.expected[0]},
            )
    return len(expected), differences


def _rebuild_merchant(
    merchant: Merchant, *, using: str, repair: bool
) -> tuple[int, int, list[DayTotalDifference]]:
    with transaction.atomic(using=using):
        _lock_writes(using)
        expected = day_totals_expected(merchant_id=merchant.pk, using=using)
        stored = day_totals_stored(merchant_id=merchant.pk, using=using)
        differences = [
            DayTotalDifference(
                kind=PAYMENTS,
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
        customer_days, customer_differences = _customer_differences(
            merchant, using=using, repair=repair
        )
        if repair and (differences or customer_differences):
            audit_record(
                action="payments.day_totals_rebuilt",
                actor=Actor.system("rebuild_payment_day_totals"),
                merchant_id=merchant.public_id,
                target_type="merchant",
                target_id=merchant.public_id,
                payload={
                    "days_corrected": len(differences),
                    "days": len(expected),
                    "customer_days_corrected": len(customer_differences),
                    "customer_days": customer_days,
                },
            )
    return len(expected), customer_days, differences + customer_differences


def day_totals_rebuild(
    *,
    merchants: Iterable[Merchant] | None = None,
    repair: bool = True,
    progress: Callable[[int], None] | None = None,
    using: str | None = None,
) -> RebuildReport:
    """Recompute every day total and new-customer count of `merchants` (all by default) from
    their payments and customers.

    With `repair` (the default) wrong, missing and empty rows are corrected, one merchant per
    transaction, each correction audited; without it nothing is written. Either way payment
    and customer writes wait while one merchant is recounted (about a second per million payments on
    PostgreSQL), so that what is compared is one consistent state.
    """
    using = using or router.db_for_write(PaymentDayTotal)
    chosen = merchants if merchants is not None else Merchant.objects.using(using).order_by("pk")
    report = RebuildReport()
    for merchant in chosen:
        days, customer_days, differences = _rebuild_merchant(merchant, using=using, repair=repair)
        report.merchants += 1
        report.days += days
        report.customer_days += customer_days
        report.differences.extend(differences)
        if progress is not None:
            progress(1)
    return report


def day_totals_ensure_triggers(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Reinstall the day-total triggers when a migration dropped them, then rebuild the totals;
    True when it had to. Runs after every `migrate` (post_migrate, payments.apps).

    SQLite alters a table by copying it into a new one, which drops the old one's triggers: a
    later migration that changes the payments or customers table (0016_platform_fee does) would
    otherwise stop the totals without a word, and what was written meanwhile is recounted.
    """
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    needed = {PAYMENTS_TABLE, CUSTOMERS_TABLE, PaymentDayTotal._meta.db_table}
    needed.add(CustomerDayCount._meta.db_table)
    if not needed <= set(connection.introspection.table_names()):
        return False  # migrated back before the totals existed
    expected = day_total_triggers.expected_trigger_names(connection.vendor)
    if day_total_triggers.installed_trigger_names(connection) == expected:
        return False
    vendor = connection.vendor
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for statement in (
            *day_total_triggers.remove_statements(vendor),
            *day_total_triggers.customer_remove_statements(vendor),
            *day_total_triggers.install_statements(vendor),
            *day_total_triggers.customer_install_statements(vendor),
        ):
            cursor.execute(statement)
        day_totals_rebuild(using=using)
    return True
