"""`manage.py rebuild_payment_day_totals [--merchant SLUG] [--check]`: recompute the overview's
per-day payment totals and new-customer counts from the payments and customers, and the
running balance totals from the balance transactions (payments.balance_totals).

Database triggers keep the totals exact on every write (payments.day_total_triggers); this is
the operator's repair and check: after restoring or loading payments with triggers disabled,
or whenever the overview's figures are in doubt. Without `--check` wrong, missing and empty
rows are corrected (each merchant in its own transaction, audited as
`payments.day_totals_rebuilt`); with it nothing is written and the exit status is 1 when any
day differs. Writers are never held up (payments.day_totals._rebuild_merchant says how); it
takes about a second per million payments. Prints each differing day (merchant public id,
currency, day, stored and expected gross / kept / count; or the day's stored and expected
number of new customers; or the merchant's processor and currency with the stored and expected
net / count of its balance transactions), never anything about a customer. Balance totals are
audited as `payments.balance_totals_rebuilt`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from accounts.models import Merchant
from compliance.progress import progress_bar
from payments.balance_totals import BalanceRebuildReport, balance_totals_rebuild
from payments.day_totals import CUSTOMERS, day_totals_rebuild

SHOWN_DIFFERENCES = 50


class Command(BaseCommand):
    help = "Recompute the per-day payment totals the overview reads; --check only compares."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", help="Only this merchant (its slug).")
        parser.add_argument(
            "--check", action="store_true", help="Compare only; exit 1 when any day differs."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        check: bool = options["check"]
        slug: str | None = options["merchant"]
        merchants = Merchant.objects.order_by("pk")
        if slug is not None:
            merchants = merchants.filter(slug=slug)
            if not merchants.exists():
                raise CommandError(f"unknown merchant {slug!r}")
        try:
            with progress_bar(
                total=merchants.count(), unit="merchant", desc="day totals"
            ) as advance:
                report = day_totals_rebuild(merchants=merchants, repair=not check, progress=advance)
            balances = balance_totals_rebuild(merchants=merchants, repair=not check)
        except DatabaseError as error:
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CommandError(f"day totals not rebuilt: database error ({first_line})") from error
        for difference in report.differences[:SHOWN_DIFFERENCES]:
            if difference.kind == CUSTOMERS:
                self.stdout.write(
                    f"{difference.merchant} new customers {difference.day:%Y-%m-%d}: "
                    f"stored {difference.stored[0]}, customers say {difference.expected[0]}"
                )
                continue
            self.stdout.write(
                f"{difference.merchant} {difference.currency} {difference.day:%Y-%m-%d}: "
                "stored gross/kept/count {}/{}/{}, payments say {}/{}/{}".format(
                    *difference.stored, *difference.expected
                )
            )
        hidden = len(report.differences) - SHOWN_DIFFERENCES
        if hidden > 0:
            self.stdout.write(f"... and {hidden} more")
        verb = "differ" if check else "corrected"
        self._write_balances(balances, verb)
        summary = (
            f"{report.merchants} merchants, {report.days} days with payments, "
            f"{report.customer_days} with new customers: "
            f"{len(report.differences)} day totals {verb}"
        )
        if check and (report.differences or balances.differences):
            raise CommandError(f"{summary}; {len(balances.differences)} balance totals {verb}")
        self.stdout.write(summary)

    def _write_balances(self, balances: BalanceRebuildReport, verb: str) -> None:
        for difference in balances.differences[:SHOWN_DIFFERENCES]:
            self.stdout.write(
                f"{difference.merchant} balance {difference.processor} {difference.currency}: "
                "stored net/count {}/{}, balance transactions say {}/{}".format(
                    *difference.stored, *difference.expected
                )
            )
        hidden = len(balances.differences) - SHOWN_DIFFERENCES
        if hidden > 0:
            self.stdout.write(f"... and {hidden} more")
        self.stdout.write(
            f"{balances.totals} balance totals (processor, currency): "
            f"{len(balances.differences)} {verb}"
        )
