"""Rebuilding `BalanceTotal` from the balance transactions, and checking that it is exact.

The totals are kept by database triggers (`payments.balance_total_triggers`); a rebuild is for
after restoring data with triggers disabled, or to check them. `manage.py
rebuild_payment_day_totals [--check]` runs it after the day totals (`payments.day_totals`),
with the same guarantees: one snapshot per comparison, corrections added as increments, one
merchant per transaction, each correction audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.db.models import Count, F, IntegerField, Sum, Value

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from config.db_triggers import triggers_restore
from payments import balance_total_triggers
from payments.balance_total_triggers import BALANCE_TRANSACTIONS_TABLE
from payments.models import BalanceTotal, BalanceTransaction

Key = tuple[str, str]  # processor, currency
Figures = tuple[int, int]  # net, transaction_count


@dataclass(frozen=True)
class BalanceTotalDifference:
    """A stored balance total that differed from its balance transactions (zeros where a row
    was missing)."""

    merchant: str  # the merchant's public id
    processor: str
    currency: str
    stored: Figures
    expected: Figures


@dataclass
class BalanceRebuildReport:
    merchants: int = 0
    totals: int = 0  # (processor, currency) pairs with balance transactions, over every merchant
    differences: list[BalanceTotalDifference] = field(default_factory=list)


def _compared(merchant: Merchant, using: str) -> tuple[dict[Key, Figures], dict[Key, Figures]]:
    """The recount from the balance transactions and the stored totals, read in one UNION ALL
    statement: one snapshot, so a write committed meanwhile shows in both or in neither."""
    recount = (
        BalanceTransaction.objects.using(using)
        .filter(merchant=merchant)
        .values("processor", "currency")
        .annotate(total_net=Sum("net"), total_count=Count("id"))
        .order_by()
        .annotate(source=Value(1, output_field=IntegerField()))
    )
    stored = (
        BalanceTotal.objects.using(using)
        .filter(merchant=merchant)
        .annotate(total_net=F("net"), total_count=F("transaction_count"), source=Value(0))
        .values("processor", "currency", "total_net", "total_count", "source")
        .order_by()
    )
    recounted: dict[Key, Figures] = {}
    found: dict[Key, Figures] = {}
    for row in recount.union(stored, all=True):
        key = (row["processor"], row["currency"])
        figures = (int(row["total_net"] or 0), int(row["total_count"] or 0))
        if row["source"] == 1:
            recounted[key] = figures
        elif any(figures):
            found[key] = figures  # rows of zeros count nothing: as good as missing
    return recounted, found


def _differences(merchant: Merchant, using: str) -> tuple[int, list[BalanceTotalDifference]]:
    recounted, stored = _compared(merchant, using)
    zero = (0, 0)
    differences = [
        BalanceTotalDifference(
            merchant=merchant.public_id,
            processor=processor,
            currency=currency,
            stored=stored.get((processor, currency), zero),
            expected=recounted.get((processor, currency), zero),
        )
        for processor, currency in sorted(recounted.keys() | stored.keys())
        if stored.get((processor, currency), zero) != recounted.get((processor, currency), zero)
    ]
    return len(recounted), differences


def _repair(merchant: Merchant, differences: list[BalanceTotalDifference], using: str) -> None:
    """Add what differs to each row (an increment, not an overwrite: a balance transaction
    written since the comparison has added its own change already), then drop rows of zeros."""
    rows = BalanceTotal.objects.using(using)
    for difference in differences:
        net = difference.expected[0] - difference.stored[0]
        count = difference.expected[1] - difference.stored[1]
        # get_or_create inserts in a savepoint of its own: a failed insert does not abort
        # the merchant's transaction on PostgreSQL.
        row, created = rows.get_or_create(
            merchant=merchant,
            processor=difference.processor,
            currency=difference.currency,
            defaults={"net": net, "transaction_count": count},
        )
        if not created:
            rows.filter(pk=row.pk).update(
                net=F("net") + net, transaction_count=F("transaction_count") + count
            )
    rows.filter(merchant=merchant, net=0, transaction_count=0).delete()


def _rebuild_merchant(
    merchant: Merchant, *, using: str, repair: bool
) -> tuple[int, list[BalanceTotalDifference]]:
    """As `payments.day_totals._rebuild_merchant`: two rebuilds of one merchant take turns on
    its row (FOR NO KEY UPDATE, which balance transaction writes do not wait for)."""
    with transaction.atomic(using=using):
        if repair:
            Merchant.objects.using(using).select_for_update(no_key=True).filter(
                pk=merchant.pk
            ).first()
        totals, differences = _differences(merchant, using)
        if repair and differences:
            _repair(merchant, differences, using)
            audit_record(
                action="payments.balance_totals_rebuilt",
                actor=Actor.system("rebuild_payment_day_totals"),
                merchant_id=merchant.public_id,
                target_type="merchant",
                target_id=merchant.public_id,
                payload={"totals_corrected": len(differences), "totals": totals},
            )
    return totals, differences


def balance_totals_rebuild(
    *,
    merchants: Iterable[Merchant] | None = None,
    repair: bool = True,
    using: str | None = None,
) -> BalanceRebuildReport:
    """Recompute the balance totals of `merchants` (all by default) from their balance
    transactions; with `repair` (the default) wrong, missing and empty rows are corrected,
    without it nothing is written."""
    using = using or router.db_for_write(BalanceTotal)
    chosen = merchants if merchants is not None else Merchant.objects.using(using).order_by("pk")
    report = BalanceRebuildReport()
    for merchant in chosen:
        totals, differences = _rebuild_merchant(merchant, using=using, repair=repair)
        report.merchants += 1
        report.totals += totals
        report.differences.extend(differences)
    return report


def balance_totals_ensure_triggers(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Reinstall the balance-total triggers when a migration dropped them (SQLite remakes a
    table it alters, without its triggers), then rebuild the totals; True when it had to. Runs
    after every `migrate` (post_migrate, payments.apps)."""
    return triggers_restore(
        using,
        tables=[BALANCE_TRANSACTIONS_TABLE, BalanceTotal._meta.db_table],
        expected=balance_total_triggers.expected_trigger_names,
        installed=balance_total_triggers.installed_trigger_names,
        reinstall=lambda vendor: [
            *balance_total_triggers.remove_statements(vendor),
            *balance_total_triggers.install_statements(vendor),
        ],
        recount=lambda: balance_totals_rebuild(using=using),
    )
