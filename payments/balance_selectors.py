"""The merchant's balance per processor and currency, from what Ledgerline mirrors.

Two sources, one per kind of processor:

- a processor that reports its balance transactions (Stripe: a `MoneyOutGateway`) is the sum
  of those mirrored transactions' net, available from each one's `available_on`;
- a processor with no balance API (Braintree) is derived. Its mirrored rows are the payouts'
  items, their own debits and the returns of failed ones (`payments.braintree_payouts`), which
  net to what it still holds after a failed deposit; on top of that, pending is the money it
  has captured and not yet disbursed: captured payments (submitted for settlement, settling
  or settled) less the refunds it accepted, leaving out those a payout already carries, over
  the last `UNDISBURSED_WINDOW` (30 days).
  Nothing of Braintree's is "available" otherwise: it disburses on its own schedule.

`selectors.balance_summary` adds the processors up per currency for the API's contract
(`{"available": [{"amount", "currency"}], "pending": [...]}`); the balance page shows each
processor's line when a merchant uses more than one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Sum

from accounts.models import Merchant
from payments.gateways import gateway_named
from payments.gateways.base import MoneyOutGateway
from payments.models import (
    BalanceTotal,
    BalanceTransaction,
    BalanceTransactionType,
    Payment,
    ProcessorAccount,
    Refund,
)
from payments.state import PaymentStatus, RefundStatus

# A refund is money leaving the balance from the moment the processor accepted it.
_REFUND_TAKEN = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
# Braintree disburses within days of settlement. What was captured longer ago and no payout
# carries is not pending money: it was disbursed before Ledgerline mirrored disbursements, or
# its disbursement was missed (the reconciler reports those). The bound also keeps the query
# to recent rows, whatever a merchant's history.
UNDISBURSED_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class ProcessorBalance:
    """One processor's balance in one currency, in minor units."""

    processor: str
    currency: str
    available: int
    pending: int


def reports_balance(processor: str) -> bool:
    """Whether the processor's API reports its balance, itemized fees and payout schedule."""
    return isinstance(gateway_named(processor), MoneyOutGateway)


def processors_without_payout_api(*, merchant: Merchant, using: str) -> list[str]:
    """The merchant's processors whose payouts are mirrored from notifications only: no
    balance, payout list or payout schedule to read or change through their API."""
    processors = (
        ProcessorAccount.objects.using(using)
        .filter(merchant=merchant)
        .values_list("processor", flat=True)
        .distinct()
    )
    return sorted(p for p in processors if not reports_balance(p))


def balance_by_processor(
    *, merchant: Merchant, using: str, now: datetime
) -> list[ProcessorBalance]:
    """Every (processor, currency) the merchant has money in, sorted by processor, currency.

    The mirrored part is the running total of `BalanceTotal` (kept by database triggers) split
    by the rows still to become available: pending is their net, read off the
    `balance_txn_funds` index (merchant, currency, available_on) over future rows only, and
    available is the total less pending; the same figures as summing every row, without reading
    the merchant's whole history on each request."""
    found: dict[tuple[str, str], list[int]] = {}
    totals = (
        BalanceTotal.objects.using(using)
        .filter(merchant=merchant, transaction_count__gt=0)
        .values_list("processor", "currency", "net")
    )
    for processor, currency, net in totals:
        found[(processor, currency)] = [int(net), 0]
    currencies = sorted({currency for _, currency in found})
    if currencies:
        pending_rows = (
            BalanceTransaction.objects.using(using)
            .filter(merchant=merchant, currency__in=currencies, available_on__gt=now)
            .values("processor", "currency")
            .annotate(pending=Sum("net"))
            .order_by()
        )
        for row in pending_rows:
            # setdefault: a total missing (triggers disabled during a restore, until the
            # rebuild) must not turn the page into an error.
            share = found.setdefault((row["processor"], row["currency"]), [0, 0])
            pending = int(row["pending"] or 0)
            share[0] -= pending
            share[1] += pending
    for processor in processors_without_payout_api(merchant=merchant, using=using):
        for currency, amount in _undisbursed(merchant, processor, using, now).items():
            found.setdefault((processor, currency), [0, 0])[1] += amount
    return [
        ProcessorBalance(processor=p, currency=c, available=a, pending=pe)
        for (p, c), (a, pe) in sorted(found.items())
    ]


def _undisbursed(merchant: Merchant, processor: str, using: str, now: datetime) -> dict[str, int]:
    """Captured less refunded, per currency, of what no payout of `processor` carries yet
    (within `UNDISBURSED_WINDOW`).

    "Carried" is NOT EXISTS, a probe of the unique (processor, processor_transaction_id) index
    per recent payment: as NOT IN, PostgreSQL compared each payment with every carried row of
    the merchant's history once they outgrew work_mem (minutes for 150,000 carried rows)."""
    since = now - UNDISBURSED_WINDOW
    carried = BalanceTransaction.objects.using(using).filter(
        merchant=merchant,
        processor=processor,
        payout__isnull=False,
        type__in=(BalanceTransactionType.CHARGE, BalanceTransactionType.REFUND),
    )
    totals: dict[str, int] = {}
    sales = (
        Payment.objects.using(using)
        .filter(
            merchant=merchant,
            processor=processor,
            status=PaymentStatus.SUCCEEDED,
            amount_captured__gt=0,
            created_at__gte=since,
        )
        .exclude(processor_payment_id="")
        .filter(~Exists(carried.filter(processor_transaction_id=OuterRef("processor_payment_id"))))
        .values("currency")
        .annotate(total=Sum("amount_captured"))
    )
    for row in sales:
        totals[row["currency"]] = totals.get(row["currency"], 0) + int(row["total"] or 0)
    refunds = (
        Refund.objects.using(using)
        .filter(
            merchant=merchant,
            payment__processor=processor,
            status__in=_REFUND_TAKEN,
            created_at__gte=since,
        )
        .exclude(processor_refund_id="")
        .filter(~Exists(carried.filter(processor_transaction_id=OuterRef("processor_refund_id"))))
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    for row in refunds:
        totals[row["currency"]] = totals.get(row["currency"], 0) - int(row["total"] or 0)
    return totals
