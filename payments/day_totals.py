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
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.db.models import Count, F, IntegerField, Model, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from config.db_triggers import triggers_restore
from payments import day_total_triggers
from payments.day_total_triggers import CUSTOMERS_TABLE, PAYMENTS_TABLE
from payments.models import Customer, CustomerDayCount, Payment, PaymentDayTotal
from payments.state import PaymentStatus

Key = tuple[str, date]  # currency, day ("" for customers)
Figures = tuple[int, ...]  # gross, kept, payment_count; or customer_count
Compared = dict[Key, Figures]
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


def _recount_against_stored(
    recount: QuerySet[Any], stored: QuerySet[Any]
) -> tuple[Compared, Compared]:
    """`recount` (rows recounted from the source) and `stored` (the totals rows), read in one
    UNION ALL statement: one snapshot, so a write committed meanwhile shows in both or in
    neither. Both give the same columns, key first, then the figures, then `source`."""
    mark = {"source": Value(1, output_field=IntegerField())}
    recounted: Compared = {}
    found: Compared = {}
    for row in recount.annotate(**mark).union(stored.annotate(source=Value(0)), all=True):
        values = list(row.values())
        key: Key = (values[0], values[1])
        figures = tuple(int(v or 0) for v in values[2:-1])
        if values[-1] == 1:
            recounted[key] = figures
        elif any(figures):
            found[key] = figures  # rows of zeros count nothing: as good as missing
    return recounted, found


def _payments_compared(merchant: Merchant, using: str) -> tuple[Compared, Compared]:
    recount = (
        Payment.objects.using(using)
        .filter(merchant=merchant, status=PaymentStatus.SUCCEEDED)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("currency", "day")
        .annotate(
            gross=Sum("amount_captured"),
            kept=Sum(F("amount_captured") - F("net"), filter=Q(net__isnull=False)),
            payment_count=Count("created_at"),
        )
        .order_by()
    )
    stored = (
        PaymentDayTotal.objects.using(using)
        .filter(merchant=merchant)
        .values("currency", "day", "gross", "kept", "payment_count")
        .order_by()
    )
    return _recount_against_stored(recount, stored)


def _customers_compared(merchant: Merchant, using: str) -> tuple[Compared, Compared]:
    recount = (
        Customer.objects.using(using)
        .filter(merchant=merchant)
        .annotate(day=TruncDate("created_at", tzinfo=UTC), none=Value(""))
        .values("none", "day")
        .annotate(customer_count=Count("created_at"))
        .order_by()
    )
    stored = (
        CustomerDayCount.objects.using(using)
        .filter(merchant=merchant)
        .annotate(none=Value(""))
        .values("none", "day", "customer_count")
        .order_by()
    )
    return _recount_against_stored(recount, stored)


def _correct(
    model: type[Model], merchant: Merchant, key: dict[str, Any], change: dict[str, int], using: str
) -> None:
    """Add `change` to the row of `key`, creating it when missing. An increment, not an
    overwrite: a payment written since the comparison has added its own change already.
    (Inside a transaction a failed insert would abort it on PostgreSQL: get_or_create inserts
    in a savepoint of its own.)"""
    rows = model._default_manager.using(using)
    row, created = rows.get_or_create(merchant=merchant, **key, defaults=change)
    if not created:
        rows.filter(pk=row.pk).update(**{name: F(name) + amount for name, amount in change.items()})


def _differences(merchant: Merchant, using: str) -> tuple[int, int, list[DayTotalDifference]]:
    payments_recounted, payments_stored = _payments_compared(merchant, using)
    customers_recounted, customers_stored = _customers_compared(merchant, using)
    differences = []
    for kind, recounted, stored, width in (
        (PAYMENTS, payments_recounted, payments_stored, 3),
        (CUSTOMERS, customers_recounted, customers_stored, 1),
    ):
        zero = (0,) * width
        differences += [
            DayTotalDifference(
                kind=kind,
                merchant=merchant.public_id,
                currency=currency,
                day=day,
                stored=stored.get((currency, day), zero),
                expected=recounted.get((currency, day), zero),
            )
            for currency, day in sorted(recounted.keys() | stored.keys())
            if stored.get((currency, day), zero) != recounted.get((currency, day), zero)
        ]
    return len(payments_recounted), len(customers_recounted), differences


def _repair(merchant: Merchant, differences: list[DayTotalDifference], using: str) -> None:
    for difference in differences:
        change = [
            new - old for new, old in zip(difference.expected, difference.stored, strict=True)
        ]
        if difference.kind == PAYMENTS:
            key: dict[str, Any] = {"currency": difference.currency, "day": difference.day}
            names: tuple[str, ...] = ("gross", "kept", "payment_count")
            _correct(PaymentDayTotal, merchant, key, dict(zip(names, change, strict=True)), using)
        else:
            key = {"day": difference.day}
            _correct(CustomerDayCount, merchant, key, {"customer_count": change[0]}, using)
    # Rows of zeros only remember days that stopped counting. The condition is checked again
    # on a row a writer changes meanwhile, so a row it has just filled stays.
    totals = PaymentDayTotal.objects.using(using).filter(merchant=merchant)
    totals.filter(gross=0, kept=0, payment_count=0).delete()
    CustomerDayCount.objects.using(using).filter(merchant=merchant, customer_count=0).delete()


def _rebuild_merchant(
    merchant: Merchant, *, using: str, repair: bool
) -> tuple[int, int, list[DayTotalDifference]]:
    """Compare the merchant's totals with a recount and, with `repair`, add what differs.

    Writers are not held up: the comparison is one statement (one snapshot), and since the
    triggers keep a committed write's rows and totals in step, what differs there is exactly
    what is wrong; adding it as an increment keeps every write committed since (overwriting
    with the recount would drop them). Two rebuilds of one merchant take turns on its row
    (FOR NO KEY UPDATE, which payment and customer writes' key-share locks do not wait for),
    so a difference is never added twice."""
    with transaction.atomic(using=using):
        if repair:
            Merchant.objects.using(using).select_for_update(no_key=True).filter(
                pk=merchant.pk
            ).first()
        payment_days, customer_days, differences = _differences(merchant, using)
        if repair:
            _repair(merchant, differences, using)
            if differences:
                audit_record(
                    action="payments.day_totals_rebuilt",
                    actor=Actor.system("rebuild_payment_day_totals"),
                    merchant_id=merchant.public_id,
                    target_type="merchant",
                    target_id=merchant.public_id,
                    payload={
                        "days_corrected": sum(d.kind == PAYMENTS for d in differences),
                        "days": payment_days,
                        "customer_days_corrected": sum(d.kind == CUSTOMERS for d in differences),
                        "customer_days": customer_days,
                    },
                )
    return payment_days, customer_days, differences


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
    transaction, each correction audited; without it nothing is written. Writers never wait
    for it (see `_rebuild_merchant`).
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
    return triggers_restore(
        using,
        tables=[
            PAYMENTS_TABLE,
            CUSTOMERS_TABLE,
            PaymentDayTotal._meta.db_table,
            CustomerDayCount._meta.db_table,
        ],
        expected=day_total_triggers.expected_trigger_names,
        installed=day_total_triggers.installed_trigger_names,
        reinstall=lambda vendor: [
            *day_total_triggers.remove_statements(vendor),
            *day_total_triggers.customer_remove_statements(vendor),
            *day_total_triggers.install_statements(vendor),
            *day_total_triggers.customer_install_statements(vendor),
        ],
        recount=lambda: day_totals_rebuild(using=using),
    )
