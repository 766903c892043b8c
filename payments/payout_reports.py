"""Balance and payout reports: what a payout contains, and its CSV export.

Everything here reads through `settings.REPORTS_DB_ALIAS` (the reports replica when one is
configured, else the default database), like `payments.reports`. A payout's contents are the
balance transactions it swept (payments, refunds, disputes and their fees); its own debit is
left out, so the contents' net always sums to the payout's amount for an automatic payout. A
manual payout sweeps nothing: it is paid from the available balance as a whole.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet, Sum

from payments.models import BalanceTransaction, BalanceTransactionType, Payout
from payments.reports import csv_safe

CSV_CHUNK_SIZE = 2000

# What a merchant can do about each failure code the processor gives a payout.
FAILURE_ADVICE = {
    "account_closed": "The bank account is closed. Add a new bank account; the money is back "
    "in your balance and goes out with the next payout.",
    "account_frozen": "The bank has frozen the account. Ask your bank to lift it, or add "
    "another bank account.",
    "bank_account_restricted": "The account does not accept this kind of payout. Ask your "
    "bank, or add another bank account.",
    "could_not_process": "The bank could not process it. The money is back in your balance and "
    "is retried with the next payout; if it fails again, contact your bank.",
    "debit_not_authorized": "The bank refused the transfer. Ask your bank to allow transfers "
    "from your payment processor.",
    "insufficient_funds": "Your processor balance could not cover the payout (refunds or "
    "disputes took money since). Nothing is needed: it is retried once the balance allows.",
    "invalid_account_number": "The account number looks wrong. Check the bank account details "
    "and add the account again.",
    "invalid_currency": "The bank cannot take this currency. Add a bank account in this currency.",
    "no_account": "The bank could not find the account. Check the details and add the account "
    "again.",
}
DEFAULT_ADVICE = (
    "The money is back in your balance. Check your bank account details, then contact support "
    "if the next payout fails too."
)


def _db() -> str:
    alias: str = settings.REPORTS_DB_ALIAS
    return alias


def failure_advice(code: str) -> str:
    return FAILURE_ADVICE.get(code, DEFAULT_ADVICE)


def payout_items(payout: Payout) -> QuerySet[BalanceTransaction]:
    """What the payout carried, without its own debit (and a failure's return of it)."""
    return (
        BalanceTransaction.objects.using(_db())
        .filter(payout=payout)
        .exclude(
            type__in=(
                BalanceTransactionType.PAYOUT,
                BalanceTransactionType.PAYOUT_FAILURE,
                BalanceTransactionType.PAYOUT_CANCEL,
            ),
            processor_source_id=payout.processor_payout_id,
        )
    )


@dataclass(frozen=True)
class ContentLine:
    """One kind of item in a payout: how many, their gross, fees and net (minor units)."""

    type: str
    label: str
    count: int
    amount: int
    fee: int
    net: int


@dataclass(frozen=True)
class PayoutContents:
    lines: list[ContentLine]
    count: int
    amount: int
    fee: int
    net: int

    def balances(self, payout: Payout) -> bool:
        """Whether the items add up to the payout (always, for an automatic payout)."""
        return self.net == payout.amount


def payout_contents(payout: Payout) -> PayoutContents:
    """The payout's items grouped by type (one aggregate query on the payout's index)."""
    rows = (
        payout_items(payout)
        .values("type")
        .annotate(count=Count("pk"), amount=Sum("amount"), fee=Sum("fee"), net=Sum("net"))
        .order_by("type")
    )
    labels = dict(BalanceTransactionType.choices)
    lines = [
        ContentLine(
            type=row["type"],
            label=str(labels.get(row["type"], row["type"])),
            count=int(row["count"]),
            amount=int(row["amount"] or 0),
            fee=int(row["fee"] or 0),
            net=int(row["net"] or 0),
        )
        for row in rows
    ]
    return PayoutContents(
        lines=lines,
        count=sum(line.count for line in lines),
        amount=sum(line.amount for line in lines),
        fee=sum(line.fee for line in lines),
        net=sum(line.net for line in lines),
    )


# A finished payout's contents change only when the mirror links another transaction to it,
# which moves the payout's `updated_at` (payments.services.payouts): the key holds it.
CONTENTS_CACHE_SECONDS = 3600


def payout_contents_cached(payout: Payout) -> PayoutContents:
    """`payout_contents`, kept for a finished payout: the aggregate of a payout of 100,000
    items takes most of a second; its detail page is opened again and again."""
    if payout.status in ("pending", "in_transit"):
        return payout_contents(payout)
    key = f"payouts:contents:{payout.public_id}:{payout.updated_at.timestamp()}"
    found = cache.get(key)
    if isinstance(found, PayoutContents):
        return found
    contents = payout_contents(payout)
    cache.set(key, contents, CONTENTS_CACHE_SECONDS)
    return contents


# --- CSV ------------------------------------------------------------------------------------

PAYOUT_CSV_COLUMNS = (
    "balance_transaction",
    "type",
    "source",
    "amount",
    "fee",
    "net",
    "currency",
    "created_utc",
    "available_on_utc",
    "description",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def payout_csv_lines(payout: Payout) -> Iterator[str]:
    """The payout's items as CSV lines, oldest first, streamed from a server-side cursor in
    chunks of plain tuples (no model objects), so memory stays flat at any size; the last line
    is the total, equal to the payout's amount."""
    rows = (
        payout_items(payout)
        .order_by("processor_created_at", "pk")
        .values_list(
            "public_id",
            "type",
            "payment__public_id",
            "refund__public_id",
            "dispute__public_id",
            "amount",
            "fee",
            "net",
            "currency",
            "processor_created_at",
            "available_on",
            "description",
        )
        .iterator(chunk_size=CSV_CHUNK_SIZE)
    )
    writer = csv.writer(_Echo())
    yield writer.writerow(PAYOUT_CSV_COLUMNS)
    totals = [0, 0, 0]
    for row in rows:
        (txn, kind, payment, refund, dispute, amount, fee, net, currency, created, on, text) = row
        totals[0] += amount
        totals[1] += fee
        totals[2] += net
        yield writer.writerow(
            [
                txn,
                kind,
                refund or dispute or payment or "",
                str(amount),
                str(fee),
                str(net),
                currency,
                created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                on.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                csv_safe(text),
            ]
        )
    yield writer.writerow(
        [
            "total",
            "",
            payout.public_id,
            str(totals[0]),
            str(totals[1]),
            str(totals[2]),
            payout.currency,
            "",
            "",
            "",
        ]
    )
